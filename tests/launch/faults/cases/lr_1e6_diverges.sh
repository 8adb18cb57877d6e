# optim.lr=1e6 with a checkpoint after every step: the loss explodes after
# the first update (reported as a loss spike), the loss and gradients turn
# NaN a step later, and after optim.max_skipped_steps (10) skipped steps in
# a row the run stops with exit 1 and a message naming the step, loss,
# gradient norm and count, instead of training on NaN to the end. Nothing
# is saved from the first skipped step on: latest stays at the state before
# it, and every checkpoint verifies (files, checksums, no non-finite value).
# That state already computes NaN (two updates at lr ~1e6 wrecked it), so
# what an operator can get is a stop that is loud, repeatable and harmless:
# restarting the same command with --resume (as a supervisor would) stops
# the same way, 9 steps later, and changes no checkpoint.
prep_data
run=$tmp/run
args=("${TINY[@]}" --set run_dir="$run" --set steps=40 --set optim.lr=1e6 --set checkpoint.every_steps=1
      --set checkpoint.keep_last=0)
train run "${args[@]}"
expect_clean_exit run
expect_status run 1
expect_in run "^moe-train: diverged at step [0-9]+: loss -?nan, gradient norm -?nan; 10 steps in a row .*optim.max_skipped_steps = 10"
expect_in run "^loss spike at step [0-9]+: loss "
expect_not_in run "done after"
first=$(sed -nE 's/^step +([0-9]+) .*\| SKIPPED.*/\1/p' "$tmp/run.out" | head -1)
[ -n "$first" ] || fail "no step was skipped"
stopped=$(sed -nE 's/^moe-train: diverged at step ([0-9]+):.*/\1/p' "$tmp/run.err")
[ "$stopped" = $((first + 9)) ] || fail "stopped at step '$stopped', want $((first + 9)) (10 skips from step $first)"
at=$(latest_step "$run")
[ "$at" = "$first" ] || fail "latest is step '$at', want $first (the state before the first skipped step)"
newest=$(cd "$run/checkpoints" && ls -d step_* | tail -1)
[ "$newest" = "$(printf step_%08d "$first")" ] || fail "a checkpoint after the first skipped step: $newest"
for d in "$run"/checkpoints/step_*; do
  "$ckpt" verify "$d" >"$tmp/verify.out" 2>&1 || { cat "$tmp/verify.out"; fail "moe-ckpt verify $d failed"; }
done
grep -q "^{\"step\": $stopped, \"event\": \"diverged\"" "$run/metrics.jsonl" || fail "metrics.jsonl has no diverged event"
sum=$(tree_sum "$run/checkpoints")
train again "${args[@]}" --resume
expect_clean_exit again
expect_status again 1
expect_in again "^resumed from .*step $at"
expect_in again "^moe-train: diverged at step $((at + 9)):"
[ "$(tree_sum "$run/checkpoints")" = "$sum" ] || fail "the restarted run changed the checkpoints"
ok "stopped at step $stopped after 10 skips, latest step $at verifies, a restart stops alike and saves nothing"
