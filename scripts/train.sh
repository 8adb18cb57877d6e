#!/usr/bin/env bash
# The README's training command: installs dependencies, builds, runs moe-train.
#   ./scripts/train.sh [moe-train flags...]     e.g. --config configs/tiny_moe.pbtxt
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-deps
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O3" \
  -DCMAKE_CUDA_FLAGS_RELEASE="-O2" ${CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target moe-train
exec "$BUILD_DIR/launch/moe-train" "$@"
