#include "core/threading.h"

#include <cblas.h>

#include "core/error.h"

namespace moe {

namespace {
int g_threads = 0;  // 0: not set yet, use the OpenMP default
}

int num_threads() { return g_threads > 0 ? g_threads : omp_get_max_threads(); }

void set_num_threads(int n) {
  MOE_CHECK(n >= 1, "set_num_threads: need at least 1 thread, got ", n);
  g_threads = n;
  omp_set_num_threads(n);
  openblas_set_num_threads(1);  // matmul threads over its own tiles (core/cpu/gemm.cc)
}

}  // namespace moe
