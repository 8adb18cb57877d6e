#pragma once
// moe-bench subcommands. Each takes the arguments after its name and returns
// the process exit code; a bad flag throws BenchUsageError.
#include <stdexcept>
#include <string>
#include <vector>

namespace moe::bench {

struct BenchUsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// `moe-bench ops`: CPU op throughput against direct OpenBLAS / memcpy.
int run_ops(const std::vector<std::string>& args);
// `moe-bench step`: trainer step time with a per-phase breakdown over the
// ranks of an mpirun job (or one process); appends a CSV row.
int run_step(const std::vector<std::string>& args);
// `moe-bench alltoall`: our all-to-all against raw MPI_Alltoallv.
int run_alltoall(const std::vector<std::string>& args);
// `moe-bench gpu`: CUDA ops against cuBLASLt / a dense GEMM / cudaMemcpy on
// the same device.
int run_gpu(const std::vector<std::string>& args);

}  // namespace moe::bench
