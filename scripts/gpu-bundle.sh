#!/usr/bin/env bash
# Builds, on a CPU machine, what scripts/gpu-check.sh runs on a GPU machine
# that has CUDA 13 and PyTorch but none of our host-only libraries:
#   scripts/gpu-bundle.sh [BUNDLE_DIR]     (default gpu-bundle/, git-ignored)
# The bundle holds core_tests, comm_tests, moe-train and moe-bench built for sm_90a with
# generic x86-64 CPU code (the GPU host is not this machine, and strip keeps
# it small), the configs and byte-level tinyshakespeare tokens the curve and
# the step benchmark train on, and the non-NVIDIA shared libraries they need
# (OpenBLAS and its Fortran runtime, libgomp, HDF5, protobuf, OpenMPI: run
# without mpirun, the programs stay one rank and never initialise MPI).
# What travels is BUNDLE_DIR.tar.xz (at most 60 MiB; gpu-check.sh takes the
# folder or the archive). The NVIDIA libraries
# (libcudart, libcublasLt, libcublas, libnccl) are linked by soname and found on the GPU machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=${1:-gpu-bundle}
build=${BUILD_DIR:-build-gpu}
./scripts/setup-deps
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O3" \
  -DCMAKE_CUDA_FLAGS_RELEASE="-O2" -DMOE_CUDA=ON -DMOE_NATIVE=OFF -DCMAKE_CUDA_ARCHITECTURES=90a ${CMAKE_ARGS:-}
cmake --build "$build" -j "${JOBS:-$(nproc)}" --target core_tests comm_tests moe-train moe-bench moe-prep
rm -rf "$bundle"
mkdir -p "$bundle/lib" "$bundle/configs" "$bundle/data"
programs=("$build/tests/core_tests" "$build/tests/comm_tests" "$build/launch/moe-train" "$build/launch/moe-bench")
for p in "${programs[@]}"; do
  cp "$p" "$bundle/"
  strip "$bundle/$(basename "$p")"
done
cp configs/tiny_moe_sigmoid_bias.pbtxt configs/gpu_moe.pbtxt "$bundle/configs/"
"$build/launch/moe-prep" --input data/corpus/tinyshakespeare.txt --output "$bundle/data/tinyshakespeare_byte.h5"
# Every shared library outside the C runtime and NVIDIA's.
for p in "${programs[@]}"; do ldd "$p"; done | awk '$3 ~ /^\// {print $3}' | sort -u |
  grep -Ev '/(libc|libm|libdl|libpthread|librt|ld-linux[^/]*|libstdc\+\+|libgcc_s)\.so|libcudart|libcublas|libnccl' |
  while read -r lib; do cp -L "$lib" "$bundle/lib/"; done
strip --strip-unneeded "$bundle"/lib/*.so* 2>/dev/null || true
tar -cJf "$bundle.tar.xz" -C "$(dirname "$bundle")" "$(basename "$bundle")"
size_mib=$(( ($(stat -c %s "$bundle.tar.xz") + 1048575) / 1048576 ))
echo "bundle $bundle: $(du -sm "$bundle" | cut -f1) MiB, $bundle.tar.xz: ${size_mib} MiB"
[ "$size_mib" -le 60 ] || { echo "bundle archive over 60 MiB" >&2; exit 1; }
