# One rank of a 2-rank job sleeps forever outside communication from step 3
# (MOE_INJECT_HANG=1:3:sleep, a rank stuck in compute): rank 0 times out
# after parallel.comm_timeout_s = 5 s and, within timeout + 5 s, names world
# rank 1 and its host as the rank that never reached the collective; the
# job ends non-zero and leaves no rank behind.
source "$src/tests/launch/faults/hang_watch.sh"
prep_data
host=$(uname -n)
MOE_INJECT_HANG=1:3:sleep TIMEOUT=60 hang_run 2 run "injected hang" \
  "rank 0 on .*collective [0-9]+ \([a-z_]+ on group '[a-z_]+'\) was never reached by world rank 1 \(host $host\): it did not answer" \
  "${TINY[@]}" --set run_dir="$tmp/run" --set steps=40 --set parallel.comm_timeout_s=5
[ -n "$HANG_MS" ] || { show run 12; fail "rank 1 never announced its hang (exit status $STATUS)"; }
[ -n "$NAMED_MS" ] || { show run 12; fail "no line names the sleeping world rank 1 on $host"; }
[ "$NAMED_MS" -le 10000 ] || { show run 12; fail "world rank 1 was named $NAMED_MS ms after it hung (limit 10 s)"; }
[ "$STATUS" -ne 124 ] && [ "$STATUS" -ne 137 ] || { show run 12; fail "the job hung (killed by the timeout)"; }
[ "$STATUS" -ne 0 ] || fail "the job exited 0"
[ "$END_MS" -le 15000 ] || { show run 12; fail "the job ended $END_MS ms after the hang (limit 15 s)"; }
[ -z "${LEFT// /}" ] || fail "ranks left behind after the job ended: $LEFT"
expect_not_in run "^step +3 "
ok "exit status $STATUS; world rank 1 named after $NAMED_MS ms, the job ended after $END_MS ms"
