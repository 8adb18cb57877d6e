# A full disk during periodic saves (a 7 MB tmpfs holds one 4.4 MB
# checkpoint of this model; where mounting is not permitted, an injected
# ENOSPC from step 4 on). Under SAVE_ERROR_CONTINUE (the default) training
# goes on to its last step, each failed save is reported with the file
# system or the file and the last good checkpoint, nothing partial is left;
# the run's last save failing ends it with status 1 (no signal) naming
# step 2, the last good one. Once there is room, --resume loads step 2 and
# finishes.
source "$(dirname "$case_file")/../small_fs.sh"
prep_data
fs=$tmp/fs
if small_fs "$fs" 7m; then how=tmpfs; else how=injected; export MOE_CKPT_INJECT_WRITE_ERROR=ENOSPC:slice:4+; fi
RUN=("${TINY[@]}" --set run_dir="$tmp/run" --set checkpoint.dir="$fs/checkpoints" --set steps=8
     --set checkpoint.every_steps=2)
train first "${RUN[@]}"
expect_clean_exit first
expect_status first 1
expect_in first "^step +7 "
for s in 4 6; do expect_in first "WARNING: checkpoint step $s not saved: "; done
if [ $how = tmpfs ]; then
  expect_in first "not enough free space under $fs/checkpoints: the save needs .* MB .* available on tmpfs file system $fs"
else
  expect_in first "not saved: $fs/checkpoints/.tmp_step_00000004/rank_00000.h5:/.*: No space left on device"
fi
expect_in first "training continues .* the last good checkpoint is $fs/checkpoints/step_00000002; next attempt at step 6"
expect_in first "checkpoint step 8 not saved: "
expect_in first "stopping \(the run's last save failed\); the last good checkpoint is $fs/checkpoints/step_00000002"
[ "$(latest_step "$fs")" = 2 ] || fail "latest is step '$(latest_step "$fs")', want 2"
no_tmp_left "$fs/checkpoints"
"$ckpt" verify "$fs/checkpoints" >/dev/null || fail "the last good checkpoint does not verify"

if [ $how = tmpfs ]; then grow_fs "$fs" 64m; else unset MOE_CKPT_INJECT_WRITE_ERROR; fi
train second "${RUN[@]}" --resume
expect_clean_exit second
expect_status second 0
expect_in second "resumed from $fs/checkpoints/step_00000002"
[ "$(latest_step "$fs")" = 8 ] || fail "after the resume latest is step '$(latest_step "$fs")', want 8"
train ref "${TINY[@]}" --set run_dir="$tmp/ref" --set steps=8
expect_status ref 0
expect_losses_as "$tmp/run" "$tmp/ref"
ok "$how ENOSPC: training went on to step 8 and exited 1 naming step 2; the resume from step 2 finished with the uninterrupted run's losses"
