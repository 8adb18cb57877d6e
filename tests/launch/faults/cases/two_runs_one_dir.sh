# A second run into the run directory of a running one is refused at once,
# naming the first run's host and pid and the lock file, and touches none of
# the first run's files; the first then finishes normally. The first is
# SIGSTOPped while the second tries, so that nothing but the second could
# change the directory meanwhile.
prep_data
run=$tmp/run
bg_train first "${TINY[@]}" --set run_dir="$run" --set steps=12 --set checkpoint.every_steps=3
pid=$BG_PID
wait_for first "^step +4 "
kill -STOP "$pid"
before=$(tree_sum "$run")
# A fresh start and one with --overwrite (which would delete the first's
# checkpoints): the lock refuses both before anything else is looked at.
for flags in "" "--overwrite"; do
  start=$(now)
  # shellcheck disable=SC2086
  train second "${TINY[@]}" --set run_dir="$run" --set steps=12 $flags
  took=$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
  expect_clean_exit second
  [ "$STATUS" -ne 0 ] || fail "the second run ($flags) exited 0"
  expect_in second "in use by another run \(host $(uname -n) pid $pid; lock file $run/\.lock\)"
  awk -v t="$took" 'BEGIN { exit !(t <= 1.0) }' || fail "the second run ($flags) took $took s to fail (limit 1 s)"
  [ "$(tree_sum "$run")" = "$before" ] || fail "the second run ($flags) changed the first run's files"
done
kill -CONT "$pid"
bg_wait "$pid" 90
expect_clean_exit first
expect_status first 0
expect_in first "^moe-train: done after 12 steps"
[ "$(losses "$run" | wc -l)" = 12 ] || fail "metrics.jsonl holds $(losses "$run" | wc -l) steps, want 12"
[ "$(latest_step "$run")" = 12 ] || fail "latest is step $(latest_step "$run"), want 12"
ok "second run refused in $took s naming pid $pid; the first finished untouched"
