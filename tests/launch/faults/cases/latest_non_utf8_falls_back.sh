# A `latest` holding bytes that are not UTF-8 (nor a step name): --resume of
# a 2-rank job warns, naming the file, and falls back to the newest committed
# step (it used to fail with "unreadable answer from rank 0").
prep_data
run=$tmp/run
train first "${TINY[@]}" --set run_dir="$run" --set steps=6 --set checkpoint.every_steps=2 --set checkpoint.keep_last=0
expect_status first 0
printf 'step_\xff\xfe0006\n' >"$run/checkpoints/latest"
mtrain 2 resume "${TINY[@]}" --set run_dir="$run" --set steps=8 --set parallel.ep=2 --resume
expect_clean_exit resume
expect_status resume 0
expect_in resume "falling back: $run/checkpoints/latest: not a step name"
expect_in resume "^resumed from $run/checkpoints/step_0*6: step 6"
expect_in resume "^moe-train: done after 8 steps"
ok "warned and resumed from step 6"
