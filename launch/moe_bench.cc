// moe-bench: micro-benchmarks and step / scaling benchmarks. Usage: moe-bench <subcommand> [flags]
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "comm/mpi_communicator.h"
#include "core/error.h"
#include "launch/bench.h"

namespace {

const char* kUsage =
    "usage: moe-bench <subcommand> [flags]\n"
    "subcommands:\n"
    "  ops   CPU op throughput (sgemm, softmax, rms_norm, add) against direct\n"
    "        OpenBLAS sgemm / memcpy bandwidth in the same run\n"
    "        --threads N   CPU threads (default: all cores)\n"
    "        --repeats N   timed samples per measurement; the median is shown (default 7)\n"
    "  step  trainer step time with a per-phase breakdown (attention, router, dispatch,\n"
    "        experts, combine, backward, grad_sync, optimizer, ...) over the ranks of an\n"
    "        mpirun job or one process; the mesh comes from parallel.tp / parallel.ep\n"
    "        --config FILE   run config (default configs/tiny_moe.pbtxt)\n"
    "        --set k=v       config override, repeatable (as moe-train)\n"
    "        --steps N       measured steps (default 10)\n"
    "        --warmup W      steps before the timers start (default 3)\n"
    "        --mode M        strong | weak: label of the CSV row (default strong)\n"
    "        --csv FILE      append one row (header written when the file is new)\n"
    "        --peak-tflops P MFU's peak per rank (default 989: H100/H200 BF16 dense)\n"
    "  alltoall  our all-to-all (comm::all_to_all) against a raw MPI_Alltoallv of the\n"
    "        same bytes, interleaved; prints the throughput ratio (run under mpirun)\n"
    "        --rows R        rows each rank sends in total (default 4096)\n"
    "        --dim D         f32 values per row (default 128)\n"
    "        --repeats K     timed samples per variant; the median is shown (default 30)\n"
    "        --imbalanced    random uneven per-peer counts instead of even ones\n"
    "        --skew-us S     rank 0 enters each sample S us late (exercises the wait loop)\n"
    "        --csv FILE      append one row\n"
    "  gpu   CUDA ops on device 0 against references on the same device: bf16 matmul vs\n"
    "        cuBLASLt called directly, the experts' grouped GEMM (64 x 2048 x 1408, 16k\n"
    "        tokens top-6, uniform and skewed) vs one dense GEMM of the same FLOPs,\n"
    "        permute / unpermute / fused row kernels vs cudaMemcpy D2D (GB/s), causal\n"
    "        attention fwd+bwd TFLOP/s at T 2k and 4k\n"
    "        --small         tiny shapes (the SIM build: proves the program, not speed)\n"
    "        --repeats N     timed samples per measurement; the median is shown (default 9)\n"
    "        --csv FILE      append one row per measurement\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string sub = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  try {
    if (sub == "ops") return moe::bench::run_ops(args);
    if (sub == "step") return moe::bench::run_step(args);
    if (sub == "alltoall") return moe::bench::run_alltoall(args);
    if (sub == "gpu") return moe::bench::run_gpu(args);
    std::fprintf(stderr, "moe-bench: unknown subcommand '%s'\n%s", sub.c_str(), kUsage);
    return 2;
  } catch (const moe::bench::BenchUsageError& e) {
    std::fprintf(stderr, "moe-bench %s: %s\n%s", sub.c_str(), e.what(), kUsage);
    return 2;
  } catch (const std::exception& e) {
    // Other ranks may be waiting in a collective: end the whole job.
    if (moe::comm::mpi_active()) moe::comm::abort_job("moe-bench " + sub + ": error: " + e.what(), 1);
    std::fprintf(stderr, "moe-bench %s: error: %s\n", sub.c_str(), e.what());
    return 1;
  }
}
