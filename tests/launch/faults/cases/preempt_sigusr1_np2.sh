# Preemption of a 2-rank job: SIGUSR1 to mpirun, which forwards it to every
# rank: they finish the step together, save, and mpirun exits 0; --resume
# continues from that step to the end.
prep_data
run=$tmp/run
bg_mtrain 2 first "${TINY[@]}" --set run_dir="$run" --set steps=30 --set parallel.ep=2
pid=$BG_PID
wait_for first "^step +3 "
kill -USR1 "$pid"
bg_wait "$pid" 60
expect_clean_exit first
expect_status first 0
expect_in first "^checkpoint .*step_"
at=$(latest_step "$run")
[ -n "$at" ] && [ "$at" -ge 4 ] && [ "$at" -lt 30 ] || fail "latest is '$(cat "$run/checkpoints/latest")'"
mtrain 2 resume "${TINY[@]}" --set run_dir="$run" --set steps=30 --set parallel.ep=2 --resume
expect_status resume 0
expect_in resume "^resumed from .*step $at"
expect_in resume "^moe-train: done after 30 steps"
mtrain 2 ref "${TINY[@]}" --set run_dir="$tmp/ref" --set steps=30 --set parallel.ep=2
expect_status ref 0
expect_losses_as "$run" "$tmp/ref"
ok "saved at step $at, mpirun exited 0, resumed to step 30 with the uninterrupted run's losses"
