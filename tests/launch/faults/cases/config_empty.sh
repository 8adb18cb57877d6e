# A config file that sets no field (empty, or only comments) is refused,
# naming the file (every value would silently be the default);
# --allow_empty_config accepts it.
prep_data
small=(--set data.path="$DATA" --set run_dir="$tmp/run" --set steps=2 --set threads=1 --set eval_every=0
       --set model.n_layers=1 --set model.d_model=32 --set model.n_heads=2 --set model.n_kv_heads=2
       --set seq_len=16 --set global_batch_size=2 --set optim.schedule.warmup_steps=1)
: >"$tmp/empty.pbtxt"
printf '# nothing here yet\n\n' >"$tmp/comments.pbtxt"
train empty --config "$tmp/empty.pbtxt" "${small[@]}"
expect_clean_exit empty
expect_status empty 2
expect_in empty "config $tmp/empty.pbtxt sets no field \(an empty file\)"
expect_in empty "--allow_empty_config"
train comments --config "$tmp/comments.pbtxt" "${small[@]}"
expect_status comments 2
expect_in comments "config $tmp/comments.pbtxt sets no field \(only comments\)"
[ ! -e "$tmp/run" ] || fail "a refused run created its run directory"
train allowed --config "$tmp/empty.pbtxt" --allow_empty_config "${small[@]}"
expect_status allowed 0
expect_in allowed "^moe-train: done after 2 steps"
ok "empty and comment-only configs refused; --allow_empty_config trains"
