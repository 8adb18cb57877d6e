# --config naming a directory is an error naming the path (it used to read
# as an empty config and train with every default); nothing is written.
prep_data
train run --config "$src/configs" --set data.path="$DATA" --set run_dir="$tmp/run" --set steps=2 --set threads=1
expect_clean_exit run
expect_status run 2
expect_in run "config $src/configs is a directory, not a config file"
[ ! -e "$tmp/run" ] || fail "the refused run created its run directory"
ok "refused with status 2, naming the directory"
