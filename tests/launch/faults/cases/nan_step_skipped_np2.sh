# NaN gradients on rank 1 only at step 4 of a 2-rank EP job
# (MOE_INJECT_NAN=1:4) that checkpoints after every step: the NaN reaches
# rank 0 through the gradient reduction, both ranks skip step 4 together
# (a rank that updated alone would desynchronise the job or hold NaN
# experts), the job finishes with exit 0, the save after step 4 waits for
# step 5's update, and every checkpoint verifies (files, checksums, no
# non-finite value).
prep_data
run=$tmp/run
MOE_INJECT_NAN=1:4 mtrain 2 run "${TINY[@]}" --set run_dir="$run" --set steps=10 --set parallel.ep=2 \
  --set checkpoint.every_steps=1 --set checkpoint.keep_last=0
expect_clean_exit run
expect_status run 0
expect_in run "^step +4 .*\| skipped 1 \| SKIPPED"
expect_in run "^step +9 .*\| skipped 1$"
expect_in run "^moe-train: done after 10 steps"
saved=$(cd "$run/checkpoints" && ls -d step_* | tr '\n' ' ')
want="step_00000001 step_00000002 step_00000003 step_00000004 step_00000006 step_00000007 step_00000008 step_00000009 step_00000010 "
[ "$saved" = "$want" ] || fail "checkpoints: '$saved', want '$want'"
for d in "$run"/checkpoints/step_*; do
  "$ckpt" verify "$d" >"$tmp/verify.out" 2>&1 || { cat "$tmp/verify.out"; fail "moe-ckpt verify $d failed"; }
done
[ "$(losses "$run" | awk '$1 > 4 && $2 !~ /^[-0-9.]+$/' | wc -l)" = 0 ] || fail "non-finite losses after the skip: $(losses "$run" | tail -5)"
ok "step 4 skipped on both ranks, 10 steps done, $(echo $saved | wc -w) checkpoints verify"
