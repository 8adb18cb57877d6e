#!/usr/bin/env bash
# Issue 4's speed bar as a ratio measured on this machine: the dense
# reference's steady-state tokens/s, ours (BF16 and FP32 matmuls) against a
# nanoGPT-style PyTorch model of the same configuration
# (scripts/reference/torch_dense_ref.py), run back to back, round after
# round, so that this machine's drift (20% and more) hits all three alike.
# Prints every round and the median of the per-round ratios.
#   ./scripts/bench-vs-torch.sh [rounds]     (default 5; BUILD_DIR=build)
# Needs Debian's python3-torch (installed here when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
ROUNDS=${1:-5}
STEPS=${STEPS:-40}
PY=/usr/bin/python3
if ! "$PY" -c "import torch" 2>/dev/null; then
  echo "installing python3-torch (Debian, OpenBLAS) for the reference..."
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-torch >/dev/null
fi
[ -x "$BUILD_DIR/launch/moe-bench" ] || { echo "build first: ./scripts/test.sh (or cmake --build $BUILD_DIR)"; exit 1; }

tok_s() { grep -oE '[0-9]+ tokens/s' | head -1 | cut -d' ' -f1; }
ours() {  # precision
  "$BUILD_DIR/launch/moe-bench" step --config configs/dense_ref.pbtxt --steps "$STEPS" --warmup 5 \
    --set model.matmul_precision="$1" | tok_s
}
torch_ref() { "$PY" scripts/reference/torch_dense_ref.py --mode step --steps "$STEPS" | tok_s; }

echo "dense reference (4 layers, d 128, batch 12 x 64), $STEPS steps after 5 warm-up, tokens/s"
printf '%-6s %10s %10s %10s %10s %10s\n' round torch bf16 fp32 bf16/torch fp32/torch
r_bf16=() r_fp32=()
for r in $(seq 1 "$ROUNDS"); do
  t=$(torch_ref)
  b=$(ours MATMUL_BF16)
  f=$(ours MATMUL_FP32)
  rb=$(awk -v a="$b" -v c="$t" 'BEGIN { printf "%.2f", a / c }')
  rf=$(awk -v a="$f" -v c="$t" 'BEGIN { printf "%.2f", a / c }')
  r_bf16+=("$rb") r_fp32+=("$rf")
  printf '%-6s %10s %10s %10s %10s %10s\n' "$r" "$t" "$b" "$f" "$rb" "$rf"
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
echo "median ratio: bf16/torch $(median "${r_bf16[@]}"), fp32/torch $(median "${r_fp32[@]}")"
