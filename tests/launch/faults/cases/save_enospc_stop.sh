# checkpoint.on_save_error=SAVE_ERROR_STOP: the first failed save (a full
# 7 MB tmpfs at step 4, or an injected ENOSPC where mounting is not
# permitted) stops the run at once with status 1, not a signal, naming the
# last good checkpoint (step 2); nothing partial is left.
source "$(dirname "$case_file")/../small_fs.sh"
prep_data
fs=$tmp/fs
if small_fs "$fs" 7m; then how=tmpfs; else how=injected; export MOE_CKPT_INJECT_WRITE_ERROR=ENOSPC:slice:4+; fi
train run "${TINY[@]}" --set run_dir="$tmp/run" --set checkpoint.dir="$fs/checkpoints" --set steps=8 \
  --set checkpoint.every_steps=2 --set checkpoint.on_save_error=SAVE_ERROR_STOP
expect_clean_exit run
expect_status run 1
expect_in run "^step +3 "
expect_not_in run "^step +4 "
expect_in run "moe-train: checkpoint step 4 not saved: "
expect_in run "stopping \(checkpoint.on_save_error=SAVE_ERROR_STOP\); the last good checkpoint is $fs/checkpoints/step_00000002"
expect_not_in run "WARNING"
[ "$(latest_step "$fs")" = 2 ] || fail "latest is step '$(latest_step "$fs")', want 2"
no_tmp_left "$fs/checkpoints"
ok "$how ENOSPC: stopped after step 3 with status 1 naming step 2"
