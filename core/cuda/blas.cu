// cuBLASLt behind cuda::blas::gemm (core/cuda/blas.h). Row-major C = op(A)
// op(B) is column-major C^T = op(B)^T op(A)^T: cuBLASLt gets B as its first
// operand and A as its second, with m = N and n = M.
#include "core/cuda/blas.h"

#include <string>

#include "core/error.h"

namespace moe::cuda::blas {

void check(const Gemm& g) {
  const bool types = (g.ab == DType::f32 && g.c == DType::f32) || (g.ab == DType::f64 && g.c == DType::f64) ||
                     (g.ab == DType::bf16 && g.c == DType::f32);
  MOE_CHECK(types, "cuda gemm: unsupported operand/result dtypes ", g.ab, " -> ", g.c);
  MOE_CHECK(g.M > 0 && g.N > 0 && g.K > 0, "cuda gemm: empty product ", g.M, " x ", g.N, " x ", g.K);
  const int64_t a_cols = g.ta ? g.M : g.K, b_cols = g.tb ? g.K : g.N;
  MOE_CHECK(g.lda >= a_cols && g.ldb >= b_cols && g.ldc >= g.N, "cuda gemm: leading dimensions ", g.lda, ", ",
            g.ldb, ", ", g.ldc, " too small for ", g.M, " x ", g.N, " x ", g.K, " (ta ", g.ta, ", tb ", g.tb, ")");
}

}  // namespace moe::cuda::blas

#if !defined(MOE_CUDA_SIM)
#include <cublasLt.h>

#include <map>
#include <mutex>
#include <tuple>

namespace moe::cuda::blas {
namespace {

#define MOE_CUBLASLT_CHECK(expr)                                                                         \
  do {                                                                                                   \
    const cublasStatus_t moe_st_ = (expr);                                                               \
    MOE_CHECK(moe_st_ == CUBLAS_STATUS_SUCCESS, "cuBLASLt: ", #expr, " failed: ", cublasLtGetStatusString(moe_st_)); \
  } while (0)

cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::f32: return CUDA_R_32F;
    case DType::f64: return CUDA_R_64F;
    case DType::bf16: return CUDA_R_16BF;
    default: break;
  }
  MOE_CHECK(false, "cuda gemm: no cuBLASLt type for ", t);
}

// The descriptors of one GEMM, freed on scope exit.
struct Descriptors {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t first = nullptr, second = nullptr, out = nullptr;
  explicit Descriptors(const Gemm& g) {
    const bool f64 = g.c == DType::f64;
    MOE_CUBLASLT_CHECK(cublasLtMatmulDescCreate(&op, f64 ? CUBLAS_COMPUTE_64F : CUBLAS_COMPUTE_32F,
                                                f64 ? CUDA_R_64F : CUDA_R_32F));
    // cuBLASLt's first operand is our B: op N when B is row-major [K, N]
    // (column-major [N, K]), op T when it is a transposed view.
    const cublasOperation_t t1 = g.tb ? CUBLAS_OP_T : CUBLAS_OP_N, t2 = g.ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    MOE_CUBLASLT_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &t1, sizeof t1));
    MOE_CUBLASLT_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &t2, sizeof t2));
    const cudaDataType_t in = cuda_type(g.ab), res = cuda_type(g.c);
    MOE_CUBLASLT_CHECK(cublasLtMatrixLayoutCreate(&first, in, uint64_t(g.tb ? g.K : g.N), uint64_t(g.tb ? g.N : g.K),
                                                  g.ldb));
    MOE_CUBLASLT_CHECK(cublasLtMatrixLayoutCreate(&second, in, uint64_t(g.ta ? g.M : g.K), uint64_t(g.ta ? g.K : g.M),
                                                  g.lda));
    MOE_CUBLASLT_CHECK(cublasLtMatrixLayoutCreate(&out, res, uint64_t(g.N), uint64_t(g.M), g.ldc));
  }
  ~Descriptors() {
    if (out) cublasLtMatrixLayoutDestroy(out);
    if (second) cublasLtMatrixLayoutDestroy(second);
    if (first) cublasLtMatrixLayoutDestroy(first);
    if (op) cublasLtMatmulDescDestroy(op);
  }
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;
};

constexpr size_t kWorkspace = size_t(32) << 20;

// One handle and workspace per (thread, device); the heuristic's pick per
// shape.
struct Context {
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
  using Key = std::tuple<bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int, int>;
  std::map<Key, cublasLtMatmulAlgo_t> algos;
};
Context& context() {
  int device = 0;
  MOE_CUDA_CHECK(cudaGetDevice(&device));
  thread_local std::map<int, Context> per_device;
  Context& c = per_device[device];
  if (!c.handle) {
    MOE_CUBLASLT_CHECK(cublasLtCreate(&c.handle));
    MOE_CUDA_CHECK(cudaMalloc(&c.workspace, kWorkspace));
  }
  return c;
}

}  // namespace

void describe(const Gemm& g) {
  check(g);
  Descriptors d(g);
  cublasLtMatmulPreference_t pref = nullptr;
  MOE_CUBLASLT_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  const size_t ws = kWorkspace;
  const cublasStatus_t st =
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
  cublasLtMatmulPreferenceDestroy(pref);
  MOE_CHECK(st == CUBLAS_STATUS_SUCCESS, "cuBLASLt: workspace preference failed: ", cublasLtGetStatusString(st));
}

void gemm(const Gemm& g, cudaStream_t stream) {
  check(g);
  Context& ctx = context();
  Descriptors d(g);
  const Context::Key key{g.ta, g.tb, g.M, g.N, g.K, g.lda, g.ldb, g.ldc, int(g.ab), int(g.c)};
  auto it = ctx.algos.find(key);
  if (it == ctx.algos.end()) {
    cublasLtMatmulPreference_t pref = nullptr;
    MOE_CUBLASLT_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    const size_t ws = kWorkspace;
    MOE_CUBLASLT_CHECK(
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    cublasLtMatmulHeuristicResult_t result = {};
    int found = 0;
    const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(ctx.handle, d.op, d.first, d.second, d.out, d.out, pref,
                                                             1, &result, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    MOE_CHECK(st == CUBLAS_STATUS_SUCCESS && found > 0, "cuBLASLt: no algorithm for ", g.M, " x ", g.N, " x ", g.K,
              " (", g.ab, " -> ", g.c, "): ", cublasLtGetStatusString(st));
    it = ctx.algos.emplace(key, result.algo).first;
  }
  const float one32 = 1.0f, zero32 = 0.0f;
  const double one64 = 1.0, zero64 = 0.0;
  const bool f64 = g.c == DType::f64;
  MOE_CUBLASLT_CHECK(cublasLtMatmul(ctx.handle, d.op, f64 ? static_cast<const void*>(&one64) : &one32, g.B, d.first,
                                    g.A, d.second, f64 ? static_cast<const void*>(&zero64) : &zero32, g.C, d.out,
                                    g.C, d.out, &it->second, ctx.workspace, kWorkspace, stream));
}

}  // namespace moe::cuda::blas
#endif
