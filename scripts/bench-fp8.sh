#!/usr/bin/env bash
# FP8 training table of issue 8: configs/tiny_moe.pbtxt trained the same
# steps with BF16 emulation (model.matmul_precision = MATMUL_BF16, FP8 off)
# and with each FP8 recipe (every GEMM class and pass in FP8, the other
# matmuls in BF16), on byte-level tinyshakespeare; plain FP32 too, whose
# distance from BF16 shows how far two runs that round differently drift. Writes the table between
# the bench-fp8 markers of docs/fp8.md and prints it:
#   final train loss (the last step's), mean train loss of the last 100
#   steps, val loss (20 fixed batches at the end), each one's relative
#   difference from BF16, and mean training tokens/s.
#   ./scripts/bench-fp8.sh [steps]      (default 1000; BUILD_DIR=build, THREADS=2)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
STEPS=${1:-1000}
THREADS=${THREADS:-2}
OUT=runs/bench-fp8
[ -f data/tinyshakespeare_byte.h5 ] ||
  "$BUILD_DIR/launch/moe-prep" --input data/corpus/tinyshakespeare.txt --output data/tinyshakespeare_byte.h5
mkdir -p "$OUT"
run() {  # name recipe [precision]
  local name=$1 recipe=$2 precision=${3:-MATMUL_BF16}
  rm -rf "$OUT/$name"
  "$BUILD_DIR/launch/moe-train" --config configs/tiny_moe.pbtxt --set steps="$STEPS" --set eval_every="$STEPS" \
    --set log_every=1 --set threads="$THREADS" --set checkpoint.save=false --set run_dir="$OUT/$name" \
    --set model.matmul_precision="$precision" --set model.fp8.recipe="$recipe" > "$OUT/$name.log"
  echo "$name: $(tail -1 "$OUT/$name.log")" >&2
}
run bf16 FP8_OFF
run fp32 FP8_OFF MATMUL_FP32
run fp8_per_tensor_current FP8_PER_TENSOR_CURRENT
run fp8_per_tensor_delayed FP8_PER_TENSOR_DELAYED
run fp8_tilewise FP8_TILEWISE

table=$(python3 - "$OUT" "$STEPS" "$THREADS" <<'PY'
import json, re, sys
out, steps, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3]
names = [("bf16", "BF16 emulation (baseline)"), ("fp32", "FP32 (no FP8, no BF16)"),
         ("fp8_per_tensor_current", "FP8 per-tensor, current"), ("fp8_per_tensor_delayed", "FP8 per-tensor, delayed (16)"),
         ("fp8_tilewise", "FP8 tile-wise (DeepSeek-V3)")]
rows = {}
for key, _ in names:
    recs = [json.loads(l) for l in open(f"{out}/{key}/metrics.jsonl")]
    train = [r for r in recs if "lm_loss" in r]
    val = [r["val_loss"] for r in recs if "val_loss" in r]
    last = re.search(r"([0-9.]+) tokens/s", open(f"{out}/{key}.log").read().strip().splitlines()[-1])
    tail = [r["lm_loss"] for r in train[-100:]]
    rows[key] = (train[-1]["lm_loss"], sum(tail) / len(tail), val[-1], float(last.group(1)))
b = rows["bf16"]
def rel(x, y): return "—" if x is y else f"{100 * (x / y - 1):+.2f}%"
print(f"{steps} steps of 12 x 64 tokens, threads = {threads}; relative differences against BF16 in brackets.\n")
print("| run | final train loss | mean train loss, last 100 steps | val loss | tokens/s |")
print("|---|---|---|---|---|")
for key, label in names:
    r = rows[key]
    cells = [f"{r[i]:.4f}" + ("" if key == "bf16" else f" ({rel(r[i], b[i])})") for i in range(3)]
    print(f"| {label} | {cells[0]} | {cells[1]} | {cells[2]} | {r[3]:,.0f} |")
PY
)
echo "$table"
# Replace the table between the markers of docs/fp8.md.
python3 - docs/fp8.md "$table" <<'PY'
import re, sys
path, table = sys.argv[1], sys.argv[2]
text = open(path).read()
new = re.sub(r"(<!-- bench-fp8 begin -->\n).*?(\n<!-- bench-fp8 end -->)", lambda m: m.group(1) + table + m.group(2),
             text, flags=re.S)
open(path, "w").write(new)
PY
