# One rank of a 4-rank job (EP pairs) throws at step 3 (MOE_INJECT_FAILURE): every rank
# ends, non-zero, within 30 s; the error names the failing rank 3; rank 0 does
# not complete step 3.
prep_data
MOE_INJECT_FAILURE=3:3 TIMEOUT=60 mtrain 4 run "${TINY[@]}" --set run_dir="$tmp/run" --set steps=20 --set parallel.ep=2
expect_clean_exit run
[ "$STATUS" -ne 0 ] || fail "the job exited 0"
[ "$ELAPSED" -le 30 ] || fail "the job took $ELAPSED s to end (limit 30 s)"
expect_in run "rank 3 on"
expect_in run "injected failure"
expect_not_in run "^step +3 "
ok "exit status $STATUS after $ELAPSED s, naming rank 3"
