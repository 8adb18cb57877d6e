# NaN gradients at step 4 (MOE_INJECT_NAN=0:4) of a one-process run that
# checkpoints after every step: step 4 is skipped (its line says so, and
# every later line counts it), the run finishes with exit 0, the save due
# after the skipped step waits for step 5's update (no step_5), and every
# checkpoint verifies (files, checksums, no non-finite value), so resuming
# from any of them is safe. Without the guard step 4 updates the weights
# with NaN and every later checkpoint holds them.
prep_data
run=$tmp/run
MOE_INJECT_NAN=0:4 train run "${TINY[@]}" --set run_dir="$run" --set steps=10 \
  --set checkpoint.every_steps=1 --set checkpoint.keep_last=0
expect_clean_exit run
expect_status run 0
expect_in run "^step +4 .*\| skipped 1 \| SKIPPED"
expect_in run "^step +9 .*\| skipped 1$"
expect_not_in run "^step +[0-3] .*skipped [^0]"
expect_in run "^moe-train: done after 10 steps"
grep -q '^{"step": 4, .*"step_skipped": true' "$run/metrics.jsonl" || fail "metrics.jsonl does not mark step 4 skipped"
saved=$(cd "$run/checkpoints" && ls -d step_* | tr '\n' ' ')
want="step_00000001 step_00000002 step_00000003 step_00000004 step_00000006 step_00000007 step_00000008 step_00000009 step_00000010 "
[ "$saved" = "$want" ] || fail "checkpoints: '$saved', want '$want'"
for d in "$run"/checkpoints/step_*; do
  "$ckpt" verify "$d" >"$tmp/verify.out" 2>&1 || { cat "$tmp/verify.out"; fail "moe-ckpt verify $d failed"; }
done
[ "$(losses "$run" | awk '$1 > 4 && $2 !~ /^[-0-9.]+$/' | wc -l)" = 0 ] || fail "non-finite losses after the skip: $(losses "$run" | tail -5)"
ok "step 4 skipped, 10 steps done, $(echo $saved | wc -w) checkpoints verify"
