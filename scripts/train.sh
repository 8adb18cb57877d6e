#!/usr/bin/env bash
# The README's training command: installs dependencies, builds, prepares the
# bundled corpus (byte-level tinyshakespeare) and trains the default small MoE.
#   ./scripts/train.sh                                  # configs/tiny_moe.pbtxt
#   ./scripts/train.sh --config configs/dense_ref.pbtxt --set steps=500
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-deps
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O3" \
  -DCMAKE_CUDA_FLAGS_RELEASE="-O2" ${CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target moe-train moe-prep
if [ ! -f data/tinyshakespeare_byte.h5 ]; then
  "$BUILD_DIR/launch/moe-prep" --input data/corpus/tinyshakespeare.txt --output data/tinyshakespeare_byte.h5
fi
args=("$@")
case " $* " in *" --config"*) ;; *) args=(--config configs/tiny_moe.pbtxt "${args[@]}") ;; esac
exec "$BUILD_DIR/launch/moe-train" "${args[@]}"
