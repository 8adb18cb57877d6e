# A --resume (here a 2-rank job) into the run directory of a running run is
# refused: every rank ends, non-zero, within seconds; rank 0's error names the
# first run's host and pid and the lock file; the first's files are untouched
# and it finishes normally.
prep_data
run=$tmp/run
bg_train first "${TINY[@]}" --set run_dir="$run" --set steps=12 --set checkpoint.every_steps=3
pid=$BG_PID
wait_for first "^checkpoint .*step_0*3"
wait_for first "^step +4 "
kill -STOP "$pid"
before=$(tree_sum "$run")
TIMEOUT=30 mtrain 2 second "${TINY[@]}" --set run_dir="$run" --set steps=12 --set parallel.ep=2 --resume
expect_clean_exit second
[ "$STATUS" -ne 0 ] || fail "the second run exited 0"
second_status=$STATUS
[ "$ELAPSED" -le 10 ] || fail "the second job took $ELAPSED s to fail"
expect_in second "in use by another run \(host $(uname -n) pid $pid; lock file $run/\.lock\)"
expect_not_in second "^resumed from"
[ "$(tree_sum "$run")" = "$before" ] || fail "the second run changed the first run's files"
kill -CONT "$pid"
bg_wait "$pid" 90
expect_status first 0
expect_in first "^moe-train: done after 12 steps"
[ "$(losses "$run" | wc -l)" = 12 ] || fail "metrics.jsonl holds $(losses "$run" | wc -l) steps, want 12"
ok "the 2-rank --resume was refused after $ELAPSED s (status $second_status); the first finished untouched"
