#!/usr/bin/env bash
# 1. One rank of a 2-rank moe-train job throws at step 3 (MOE_INJECT_FAILURE):
#    every rank must end, with a non-zero status, within 30 s, and the error
#    must name the failing rank.
# 2. One rank cannot read its config (a file missing on one node): both end
#    at once, non-zero, and that rank's error names the file.
set -uo pipefail
train=$1 prep=$2 src=$3 mpirun=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$prep" --input "$src/data/corpus/tinyshakespeare.txt" --output "$tmp/ts.h5" >/dev/null || exit 1
start=$(date +%s)
MOE_INJECT_FAILURE=1:3 OMP_NUM_THREADS=1 timeout 60 "$mpirun" --oversubscribe --allow-run-as-root -np 2 "$train" --config "$src/configs/tiny_moe.pbtxt" \
  --set data.path="$tmp/ts.h5" --set run_dir="$tmp/run" --set steps=20 --set optim.schedule.warmup_steps=2 \
  --set eval_every=0 --set log_every=1 --set parallel.ep=2 --set threads=1 >"$tmp/out" 2>"$tmp/err"
status=$?
elapsed=$(( $(date +%s) - start ))
cat "$tmp/out" "$tmp/err"
fail() { echo "FAIL: $*"; exit 1; }
[ "$status" -ne 0 ] || fail "the job exited 0"
[ "$status" -ne 124 ] || fail "the job hung (killed by timeout after 60 s)"
[ "$elapsed" -le 30 ] || fail "the job took ${elapsed} s to end (limit 30 s)"
grep -q "rank 1 on" "$tmp/err" || fail "stderr does not name rank 1"
grep -q "injected failure" "$tmp/err" || fail "stderr does not carry the error"
grep -q "^step     3 " "$tmp/out" && fail "step 3 completed on rank 0 although rank 1 failed in it"
echo "OK: exit status $status after ${elapsed} s"

start=$(date +%s)
OMP_NUM_THREADS=1 timeout 60 "$mpirun" --oversubscribe --allow-run-as-root -np 2 bash -c \
  'if [ "${OMPI_COMM_WORLD_RANK:-0}" = 1 ]; then cfg=/nonexistent/rank1.pbtxt; else cfg="$0/configs/tiny_moe.pbtxt"; fi
   exec "$1" --config "$cfg" --set data.path="$2" --set run_dir="$3" --set steps=5 --set optim.schedule.warmup_steps=1' \
  "$src" "$train" "$tmp/ts.h5" "$tmp/run2" >"$tmp/out2" 2>"$tmp/err2"
status=$?
elapsed=$(( $(date +%s) - start ))
cat "$tmp/out2" "$tmp/err2"
[ "$status" -ne 0 ] || fail "the job with a missing config on rank 1 exited 0"
[ "$status" -ne 124 ] || fail "the job with a missing config on rank 1 hung"
[ "$elapsed" -le 30 ] || fail "the job with a missing config on rank 1 took ${elapsed} s"
grep -q "rank 1 on .*/nonexistent/rank1.pbtxt" "$tmp/err2" || fail "rank 1's error (naming the file) is missing"
echo "OK: missing config on one rank: exit status $status after ${elapsed} s"
