# A run directory whose path is not UTF-8: a 2-rank job saves into it and a
# 2-rank --resume continues from it (the answer sent between the ranks
# carries the path as bytes).
prep_data
run=$tmp/run_$'\xff\xfe'
mtrain 2 first "${TINY[@]}" --set run_dir="$run" --set steps=4 --set parallel.ep=2
expect_clean_exit first
expect_status first 0
[ "$(latest_step "$run")" = 4 ] || fail "latest is '$(cat "$run/checkpoints/latest" 2>/dev/null)'"
mtrain 2 resume "${TINY[@]}" --set run_dir="$run" --set steps=6 --set parallel.ep=2 --resume
expect_clean_exit resume
expect_status resume 0
expect_in resume "^resumed from .*step_0*4: step 4"
expect_in resume "^moe-train: done after 6 steps"
[ "$(latest_step "$run")" = 6 ] || fail "latest is '$(cat "$run/checkpoints/latest" 2>/dev/null)'"
ok "saved, resumed and saved again under a non-UTF-8 path"
