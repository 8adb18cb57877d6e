# An empty data.path names the field (status 2, a config error), with any
# other violation of the config, instead of "_train.idx: no such file".
train run "${TINY[@]}" --set run_dir="$tmp/run" --set steps=5 --set data.path=
expect_clean_exit run
expect_status run 2
expect_in run "data\.path is empty"
expect_not_in run "_train\.idx"
train both "${TINY[@]}" --set run_dir="$tmp/run2" --set steps=5 --set data.path= --set optim.eps=inf
expect_status both 2
expect_in both "data\.path is empty.*optim\.eps = inf|optim\.eps = inf.*data\.path is empty"
ok "data.path= rejected, naming the field, together with the other violations"
