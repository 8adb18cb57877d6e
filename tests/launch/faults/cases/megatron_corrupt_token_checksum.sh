# One byte of a Megatron .bin changes on disk and the token it belongs to
# is still a valid id: moe-prep's sidecar (PREFIX.fnv) catches it at open,
# before any step, naming the file and the chunk.
MEGA=$tmp/mega
"$prep" --input "$src/data/corpus/tinyshakespeare.txt" --output "$MEGA" --format megatron >/dev/null ||
  fail "moe-prep --format megatron failed"
[ -f "${MEGA}_train.fnv" ] || fail "moe-prep wrote no checksum sidecar"
bin=${MEGA}_train.bin
at=1500000  # the low byte of token 750000: a byte-level id stays below 256 when flipped
old=$(od -An -tu1 -j$at -N1 "$bin" | tr -d ' ')
printf "\\$(printf %03o $((old ^ 1)))" | dd of="$bin" bs=1 seek=$at conv=notrunc status=none
train run "${TINY[@]}" --set data.path="$MEGA" --set run_dir="$tmp/run" --set steps=5
expect_clean_exit run
expect_status run 1
expect_in run "mega_train\.bin: checksum mismatch in chunk 1 \(bytes \[1048576, [0-9]+\)"
expect_in run "mega_train\.fnv says 0x"
expect_not_in run "^step +0 "
ok "exit status $STATUS before step 0, naming the file and chunk 1"
