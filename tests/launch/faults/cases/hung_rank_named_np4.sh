# One rank of a 4-rank job (EP pairs 0-1, 2-3) is SIGSTOPped at step 3
# (MOE_INJECT_HANG): the ranks waiting for it time out after
# parallel.comm_timeout_s = 5 s, and within timeout + 5 s of the stop a line
# names world rank 3 with its host as the rank that never reached the
# collective; the job ends non-zero and leaves no rank behind.
source "$src/tests/launch/faults/hang_watch.sh"
prep_data
host=$(uname -n)
MOE_INJECT_HANG=3:3:stop TIMEOUT=60 hang_run 4 run "injected hang" \
  "was never reached by .*world rank 3 \(host $host\): it did not answer" \
  "${TINY[@]}" --set run_dir="$tmp/run" --set steps=40 --set parallel.ep=2 --set parallel.comm_timeout_s=5
[ -n "$HANG_MS" ] || { show run 12; fail "rank 3 never announced its hang (exit status $STATUS)"; }
[ -n "$NAMED_MS" ] || { show run 12; fail "no line names the stopped world rank 3 on $host"; }
[ "$NAMED_MS" -le 10000 ] || { show run 12; fail "world rank 3 was named $NAMED_MS ms after it stopped (limit 10 s)"; }
[ "$STATUS" -ne 124 ] && [ "$STATUS" -ne 137 ] || { show run 12; fail "the job hung (killed by the timeout)"; }
[ "$STATUS" -ne 0 ] || fail "the job exited 0"
[ "$END_MS" -le 15000 ] || { show run 12; fail "the job ended $END_MS ms after the stop (limit 15 s)"; }
[ -z "${LEFT// /}" ] || fail "ranks left behind after the job ended: $LEFT"
expect_in run "collective [0-9]+ \([a-z_]+ on group '[a-z_]+'\) was never reached"
ok "exit status $STATUS; world rank 3 named after $NAMED_MS ms, the job ended after $END_MS ms"
