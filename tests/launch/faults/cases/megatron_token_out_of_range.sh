# Token ids beyond a vocabulary, told apart: (1) the file holds an id beyond
# its own declared vocabulary (the sidecar's vocab_size): the file is at
# fault; (2) the dataset is fine but model.vocab_size is smaller than its
# largest id: the config is at fault. Both name the file, the token offset,
# the document and the id.
MEGA=$tmp/mega
"$prep" --input "$src/data/corpus/tinyshakespeare.txt" --output "$MEGA" --format megatron >/dev/null ||
  fail "moe-prep --format megatron failed"
# (1) The sidecar says 60 ids; byte-level text holds letters (ids >= 65).
sed -i 's/^vocab_size 256$/vocab_size 60/' "${MEGA}_train.fnv"
train file "${TINY[@]}" --set data.path="$MEGA" --set run_dir="$tmp/run1" --set steps=5
expect_clean_exit file
expect_status file 1
expect_in file "mega_train\.bin, token offset [0-9]+ \(document [0-9]+\): token [0-9]+ is beyond the file's own vocabulary of 60 ids \(declared in .*mega_train\.fnv\)"
expect_not_in file "model\.vocab_size"
# (2) No sidecar (as from Megatron's builder), token 500 set to id 300 (0x012c).
rm -f "${MEGA}_train.fnv"
printf '\x2c\x01' | dd of="${MEGA}_train.bin" bs=1 seek=1000 conv=notrunc status=none
train model "${TINY[@]}" --set data.path="$MEGA" --set run_dir="$tmp/run2" --set steps=5
expect_clean_exit model
expect_status model 1
expect_in model "model\.vocab_size 256 is smaller than the dataset's largest token 300 \+ 1 \(token 300 at .*mega_train\.bin, token offset 500 \(document [0-9]+\)\)"
expect_not_in model "^step +0 "
ok "the file's own vocabulary and model.vocab_size are told apart, each naming the file and offset"
