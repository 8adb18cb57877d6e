# SIGTERM to mpirun (Open MPI 4.1), as the README says: mpirun sends the
# ranks SIGCONT at once, SIGTERM only odls_base_sigkill_timeout seconds later
# (3 here) and SIGKILL as long after that, and exits 1. The ranks, quiet here
# (mpirun stops reading their output meanwhile), get that SIGTERM, finish the
# step and commit a checkpoint that verifies, but not before the delay.
prep_data
run=$tmp/run
timeout=3
"${MPIRUN[@]}" --mca odls_base_sigkill_timeout $timeout -np 2 "$train" "${TINY[@]}" --set run_dir="$run" \
  --set steps=100000 --set parallel.ep=2 --set log_every=100000 >"$tmp/job.out" 2>"$tmp/job.err" </dev/null &
pid=$!
FAULT_PIDS="$FAULT_PIDS $pid"
wait_for job "^model: "
sleep 1
ranks=$(pgrep -P "$pid" -x moe-train | tr '\n' ' ')
FAULT_PIDS="$FAULT_PIDS $ranks"
[ -z "$(latest_step "$run")" ] || fail "a checkpoint exists before the signal"
t0=$(now)
kill -TERM "$pid"
saved=""
while alive "$pid"; do
  [ -z "$saved" ] && [ -n "$(latest_step "$run")" ] && saved=$(now)
  sleep 0.05
done
wait "$pid"
STATUS=$?
t1=$(now)
[ -n "$saved" ] || saved=$t1
expect_status job 1
for r in $ranks; do alive "$r" && fail "rank pid $r outlived mpirun"; done
at=$(latest_step "$run")
[ -n "$at" ] || { show job; fail "the ranks committed no checkpoint"; }
after=$(awk -v a="$t0" -v b="$saved" 'BEGIN { printf "%.1f", b - a }')
took=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
awk -v s="$after" -v t=$timeout 'BEGIN { exit !(s >= t - 0.5) }' ||
  fail "the checkpoint was committed $after s after the signal: mpirun did not delay SIGTERM by $timeout s"
awk -v s="$took" -v t=$timeout 'BEGIN { exit !(s <= 2 * t + 5) }' || fail "mpirun took $took s to end"
"$ckpt" verify "$run/checkpoints/step_$(printf %08d "$at")" >"$tmp/verify.out" 2>&1 ||
  { cat "$tmp/verify.out"; fail "the checkpoint of step $at does not verify"; }
expect_in job "^moe-train: interrupted after $at steps"
ok "mpirun exited 1 after $took s; the ranks committed step $at $after s after the signal"
