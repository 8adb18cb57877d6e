# optim.lr = inf (or nan) is refused before training (status 2, a config
# error), naming the field; inf used to pass "> 0".
prep_data
for v in inf nan; do
  train "lr_$v" "${TINY[@]}" --set run_dir="$tmp/run_$v" --set steps=5 --set optim.lr=$v
  expect_clean_exit "lr_$v"
  expect_status "lr_$v" 2
  expect_in "lr_$v" "optim\.lr = $v is not a finite number"
  expect_not_in "lr_$v" "^step +0 "
done
ok "optim.lr = inf and nan rejected, naming the field"
