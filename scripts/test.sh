#!/usr/bin/env bash
# The README's test command: installs dependencies, builds (Release with
# assertions) and runs every test through ctest.
#   ./scripts/test.sh            # all tests
#   BUILD_DIR=build-x ./scripts/test.sh -R GradCheck   # extra args go to ctest
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-deps
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
# Release optimisation with assertions kept (no -DNDEBUG).
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS_RELEASE="-O3" -DCMAKE_CUDA_FLAGS_RELEASE="-O2" ${CMAKE_ARGS:-}
cmake --build "$BUILD_DIR" -j "$JOBS"
# Two tests at a time on one thread each (the thread-determinism tests set
# their own counts): more threads than cores makes OpenMP's spinning waits
# stall whole test programs.
OMP_NUM_THREADS=1 ctest --test-dir "$BUILD_DIR" --output-on-failure -j 2 "$@"
# Our CUDA kernels on the SIMT host shim (MOE_CUDA=SIM: the .cu sources as
# host C++, no GPU needed) against the CPU kernels: core_tests' Cuda* tests,
# the op table's parity run (Ops/CudaOpParity*), whole training runs on the
# device (launch_tests' CudaTraining*), the NCCL communicator and the
# parallel layouts on the device over its MPI shim at 2-4 ranks (CudaNccl.*,
# CudaLayouts.*), the failing-rank cases over NCCL (CudaFault.*) and
# moe-bench gpu --small, which a build without a device skips; then the
# kernel tests with the kernels and the shim under ASan+UBSan and under TSan
# (cuda_tests_asan / _tsan). MOE_TEST_SIM=0 leaves this out.
if [ "${MOE_TEST_SIM:-1}" = 1 ] && [ $# -eq 0 ]; then
  cmake -S . -B "$BUILD_DIR-sim" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O3" \
    -DMOE_CUDA=SIM ${CMAKE_ARGS:-}
  cmake --build "$BUILD_DIR-sim" -j "$JOBS" --target core_tests comm_tests model_tests launch_tests moe-bench \
    moe-train moe-prep moe-ckpt cuda_tests_asan cuda_tests_tsan
  OMP_NUM_THREADS=1 ctest --test-dir "$BUILD_DIR-sim" --output-on-failure -j 2 -R 'Cuda|cuda_tests_'
fi

