# Preemption of a one-process run: SIGTERM after a few steps finishes the
# step, saves a checkpoint and exits 0; --resume continues from that step to
# the end.
prep_data
run=$tmp/run
bg_train first "${TINY[@]}" --set run_dir="$run" --set steps=30
pid=$BG_PID
wait_for first "^step +3 "
kill -TERM "$pid"
bg_wait "$pid" 60
expect_clean_exit first
expect_status first 0
expect_in first "^checkpoint .*step_"
at=$(latest_step "$run")
[ -n "$at" ] && [ "$at" -ge 4 ] && [ "$at" -lt 30 ] || fail "latest is '$(cat "$run/checkpoints/latest")'"
train resume "${TINY[@]}" --set run_dir="$run" --set steps=30 --resume
expect_status resume 0
expect_in resume "^resumed from .*step $at"
expect_in resume "^moe-train: done after 30 steps"
train ref "${TINY[@]}" --set run_dir="$tmp/ref" --set steps=30
expect_status ref 0
expect_losses_as "$run" "$tmp/ref"
ok "saved at step $at, exited 0, resumed to step 30 with the uninterrupted run's losses"
