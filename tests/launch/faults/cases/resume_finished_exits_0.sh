# --resume of a run whose latest checkpoint is at its last step (a requeue
# after the end) exits 0 on every rank with a message; the checkpoints and
# metrics.jsonl stay as they are (config.pbtxt is rewritten, as by any run).
prep_data
run=$tmp/run
train first "${TINY[@]}" --set run_dir="$run" --set steps=4
expect_status first 0
before="$(tree_sum "$run/checkpoints") $(sha256sum <"$run/metrics.jsonl")"
train again "${TINY[@]}" --set run_dir="$run" --set steps=4 --resume
expect_clean_exit again
expect_status again 0
expect_in again "^moe-train: nothing to do: $run/checkpoints/step_0*4 is at step 4 and the run has steps = 4 \(finished\)"
mtrain 2 again2 "${TINY[@]}" --set run_dir="$run" --set steps=4 --set parallel.ep=2 --resume
expect_clean_exit again2
expect_status again2 0
expect_in again2 "nothing to do"
[ "$(tree_sum "$run/checkpoints") $(sha256sum <"$run/metrics.jsonl")" = "$before" ] ||
  fail "the checkpoints or metrics.jsonl changed"
ok "exit 0 on one and two ranks, checkpoints and metrics unchanged"
