#!/usr/bin/env bash
# Quality table of issue 4: the dense reference against MoE variants at equal
# activated parameters, each trained the same number of steps on byte-level
# tinyshakespeare. Prints one row per run (final val loss, mean tokens/s).
#   ./scripts/bench-quality.sh [steps]      (default 2000; BUILD_DIR=build)
#   MATMUL_PRECISION=MATMUL_BF16 ./scripts/bench-quality.sh   (every run in bf16;
#   default MATMUL_FP32, the configs' own setting)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
STEPS=${1:-2000}
MATMUL_PRECISION=${MATMUL_PRECISION:-MATMUL_FP32}
[ -f data/tinyshakespeare_byte.h5 ] ||
  "$BUILD_DIR/launch/moe-prep" --input data/corpus/tinyshakespeare.txt --output data/tinyshakespeare_byte.h5
run() {  # name config overrides...
  local name=$1 cfg=$2
  shift 2
  local sets=(--set steps="$STEPS" --set eval_every="$STEPS" --set run_dir="runs/quality/$name"
    --set model.matmul_precision="$MATMUL_PRECISION")
  for s in "$@"; do sets+=(--set "$s"); done
  local out
  out=$("$BUILD_DIR/launch/moe-train" --config "$cfg" "${sets[@]}" | tail -1)
  printf '%-28s %s\n' "$name" "$out"
}
run dense configs/dense_ref.pbtxt
run moe_softmax_aux configs/tiny_moe.pbtxt
run moe_sigmoid_bias configs/tiny_moe_sigmoid_bias.pbtxt
run moe_mla configs/tiny_mla_moe.pbtxt
run moe_drop_expert_cf1.0 configs/tiny_moe.pbtxt model.moe.drop_policy=DROP_EXPERT_CAPACITY model.moe.capacity_factor=1.0
run moe_drop_device_cf1.0 configs/tiny_moe.pbtxt model.moe.drop_policy=DROP_DEVICE_BUDGET model.moe.capacity_factor=1.0
