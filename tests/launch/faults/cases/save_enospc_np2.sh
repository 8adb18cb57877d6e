# Rank 1 of 2 meets a full disk (an injected ENOSPC in its own file from
# step 4 on; HDF5 meets a real ENOSPC through /dev/full): every save from
# step 4 fails on both ranks, rank 0 reports rank 1's file and errno, and
# training goes on (SAVE_ERROR_CONTINUE); the last save failing ends the job
# with status 1 (no signal, no hang) naming step 2. Rank 1 also logs its
# own failure. A resume without the
# fault loads step 2 and finishes on both ranks.
source "$(dirname "$case_file")/../small_fs.sh"
prep_data
RUN=("${TINY[@]}" --set run_dir="$tmp/run" --set steps=8 --set checkpoint.every_steps=2 --set parallel.ep=2)
MOE_CKPT_INJECT_WRITE_ERROR=ENOSPC:slice:4+:1 mtrain 2 first "${RUN[@]}"
expect_clean_exit first
[ "$STATUS" -ne 0 ] || fail "the job exited 0"
first_status=$STATUS
expect_in first "^step +7 "
expect_in first "WARNING: checkpoint step 4 not saved: rank 1: $tmp/run/checkpoints/.tmp_step_00000004/rank_00001.h5:/.*: No space left on device"
expect_in first "WARNING: checkpoint step 6 not saved: rank 1: "
expect_in first "\[rank 1 on .*\] this rank's part of checkpoint step 4 failed: .*/rank_00001.h5:/.*: No space left on device"
expect_not_in first "not saved: rank 0"
expect_in first "stopping \(the run's last save failed\); the last good checkpoint is $tmp/run/checkpoints/step_00000002"
[ "$(latest_step "$tmp/run")" = 2 ] || fail "latest is step '$(latest_step "$tmp/run")', want 2"
no_tmp_left "$tmp/run/checkpoints"

mtrain 2 second "${RUN[@]}" --resume
expect_clean_exit second
expect_status second 0
expect_in second "resumed from $tmp/run/checkpoints/step_00000002"
[ "$(latest_step "$tmp/run")" = 8 ] || fail "after the resume latest is step '$(latest_step "$tmp/run")', want 8"
mtrain 2 ref "${RUN[@]}" --set run_dir="$tmp/ref"
expect_status ref 0
expect_losses_as "$tmp/run" "$tmp/ref"
ok "rank 1's ENOSPC reported by rank 0, training went on, exit $first_status naming step 2; the resume finished with the uninterrupted run's losses"
