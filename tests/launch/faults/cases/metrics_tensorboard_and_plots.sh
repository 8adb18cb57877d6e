# A run's metrics reach TensorBoard and scripts/moe-plot: the step line
# carries elapsed time and ETA, <run_dir>/tb holds one events file, and
# moe-plot turns metrics.jsonl (val loss included) into five PNGs; a
# missing metrics file is one clear error.
prep_data
run=$tmp/run
train first "${TINY[@]}" --set run_dir="$run" --set steps=12 --set eval_every=6 --set eval_batches=2
expect_status first 0
expect_in first '^step +11 \|.*\| elapsed [0-9]+s \| eta 0s \|'
expect_not_in first 'no validation loss'
n=$(ls "$run/tb" | grep -c '^events\.out\.tfevents\.')
[ "$n" = 1 ] || fail "$n events files in $run/tb"
[ -s "$run/tb/$(ls "$run/tb")" ] || fail "the events file is empty"
bash "$src/scripts/moe-plot" "$run" >"$tmp/plot.out" 2>&1 || { cat "$tmp/plot.out"; fail "moe-plot failed"; }
for p in loss aux moe throughput optim; do
  f=$run/plots/$p.png
  [ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "$f is not a PNG"
  [ "$(stat -c %s "$f")" -gt 5000 ] || fail "$f is only $(stat -c %s "$f") bytes"
done
grep -q '"val_loss"' "$run/metrics.jsonl" || fail "no val_loss record to plot"
if bash "$src/scripts/moe-plot" "$tmp/nowhere" >"$tmp/plot2.out" 2>&1; then fail "moe-plot accepted a missing run"; fi
grep -q "moe-plot: no such run directory or metrics file: $tmp/nowhere" "$tmp/plot2.out" ||
  { cat "$tmp/plot2.out"; fail "unclear error"; }
ok "elapsed/ETA logged, one events file, five PNGs, a missing run refused"
