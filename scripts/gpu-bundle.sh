#!/usr/bin/env bash
# Builds, on a CPU machine, what scripts/gpu-check.sh runs on a GPU machine
# that has CUDA 13 and PyTorch but none of our host-only libraries:
#   scripts/gpu-bundle.sh [BUNDLE_DIR]     (default gpu-bundle/, git-ignored)
# The bundle holds core_tests built for sm_90a with generic x86-64 CPU code
# (the GPU host is not this machine) and the non-NVIDIA shared libraries it
# needs (OpenBLAS and its Fortran runtime, libgomp). The NVIDIA libraries
# (libcudart, libcublasLt) are linked by soname and found on the GPU machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=${1:-gpu-bundle}
build=${BUILD_DIR:-build-gpu}
./scripts/setup-deps
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O3" \
  -DCMAKE_CUDA_FLAGS_RELEASE="-O2" -DMOE_CUDA=ON -DMOE_NATIVE=OFF -DCMAKE_CUDA_ARCHITECTURES=90a ${CMAKE_ARGS:-}
cmake --build "$build" -j "${JOBS:-$(nproc)}" --target core_tests
rm -rf "$bundle"
mkdir -p "$bundle/lib"
cp "$build/tests/core_tests" "$bundle/"
# Every shared library outside the C runtime and NVIDIA's.
ldd "$build/tests/core_tests" | awk '$3 ~ /^\// {print $3}' |
  grep -Ev '/(libc|libm|libdl|libpthread|librt|ld-linux[^/]*|libstdc\+\+|libgcc_s)\.so|libcudart|libcublas' |
  while read -r lib; do cp -L "$lib" "$bundle/lib/"; done
du -sh "$bundle"
