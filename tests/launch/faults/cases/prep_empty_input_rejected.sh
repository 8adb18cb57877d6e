# moe-prep on empty input (an empty file, or one among others; text too
# short for a train split) fails with status 1 naming the input, and writes
# no dataset.
run_prep() {
  local name=$1
  shift
  timeout -k 5 60 "$prep" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null
  STATUS=$?
}
: >"$tmp/empty.txt"
printf 'Some text.\n' >"$tmp/text.txt"
printf 'a' >"$tmp/one.txt"
run_prep empty --input "$tmp/empty.txt" --output "$tmp/e.h5"
expect_clean_exit empty
expect_status empty 1
expect_in empty "empty\.txt: empty file"
[ ! -e "$tmp/e.h5" ] || fail "empty: a dataset was written"
run_prep among --input "$tmp/text.txt,$tmp/empty.txt" --output "$tmp/m" --format megatron
expect_status among 1
expect_in among "empty\.txt: empty file"
! ls "$tmp"/m_* >/dev/null 2>&1 || fail "among: a dataset was written"
run_prep short --input "$tmp/one.txt" --output "$tmp/s.h5" --val_fraction 0.5
expect_status short 1
expect_in short "one\.txt: the train split would be empty"
[ ! -e "$tmp/s.h5" ] || fail "short: a dataset was written"
ok "empty input refused with status 1, naming the input, nothing written"
