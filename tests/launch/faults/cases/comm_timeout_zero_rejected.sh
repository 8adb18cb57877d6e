# parallel.comm_timeout_s of 0 or -1 is refused by the layout check that
# moe-train runs before applying the timeout, naming the field (it used to
# fail inside the communicator's set_timeout_s).
prep_data
train zero "${TINY[@]}" --set run_dir="$tmp/run0" --set steps=5 --set parallel.comm_timeout_s=0
expect_clean_exit zero
expect_status zero 2
expect_in zero "parallel\.comm_timeout_s = 0 must be > 0"
expect_not_in zero "set_timeout_s"
TIMEOUT=60 mtrain 2 neg "${TINY[@]}" --set run_dir="$tmp/run1" --set steps=5 --set parallel.comm_timeout_s=-1
expect_clean_exit neg
[ "$STATUS" -ne 0 ] || fail "neg: the 2-rank job exited 0"
expect_in neg "parallel\.comm_timeout_s = -1 must be > 0"
expect_not_in neg "set_timeout_s"
ok "comm_timeout_s 0 (one rank) and -1 (two ranks) rejected, naming the field"
