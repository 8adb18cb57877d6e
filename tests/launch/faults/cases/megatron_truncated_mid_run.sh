# The Megatron .bin is cut short while moe-train trains on it (a re-prep
# over a running job, a full disk): the run ends with status 1 and an error
# naming the file, the document and the sizes, not by SIGBUS.
MEGA=$tmp/mega
"$prep" --input "$src/data/corpus/tinyshakespeare.txt" --output "$MEGA" --format megatron >/dev/null ||
  fail "moe-prep --format megatron failed"
start=$SECONDS
timeout -k 5 120 "$train" "${TINY[@]}" --set data.path="$MEGA" --set run_dir="$tmp/run" --set steps=1000000 \
  --set checkpoint.save=false >"$tmp/run.out" 2>"$tmp/run.err" </dev/null &
pid=$!
FAULT_PIDS=$pid
# Truncate once the first steps are logged (stdout is flushed each step).
for _ in $(seq 600); do
  grep -qE '^step +2 ' "$tmp/run.out" 2>/dev/null && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.1
done
grep -qE '^step +2 ' "$tmp/run.out" || { show run; fail "no step was logged before the truncation"; }
truncate -s 4096 "${MEGA}_train.bin"
wait $pid
STATUS=$? ELAPSED=$((SECONDS - start))
FAULT_PIDS=""
expect_clean_exit run
expect_status run 1
expect_in run "mega_train\.bin: truncated while in use: tokens \[[0-9]+, [0-9]+\) of document [0-9]+"
expect_in run "the file now holds 4096 bytes \([0-9]+ when opened"
ok "exit status $STATUS after $ELAPSED s, naming ${MEGA}_train.bin"
