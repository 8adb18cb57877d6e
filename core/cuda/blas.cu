// cuBLASLt behind cuda::blas::gemm (core/cuda/blas.h). Row-major C = op(A)
// op(B) is column-major C^T = op(B)^T op(A)^T: cuBLASLt gets B as its first
// operand and A as its second, with m = N and n = M.
#include "core/cuda/blas.h"

#include <algorithm>
#include <map>
#include <string>
#include <tuple>

#include "core/cuda/context.h"
#include "core/error.h"
#include "core/ops.h"

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

GroupedCall grouped_call(const std::vector<Gemm>& gs) {
  using Shape = std::tuple<bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>;
  std::map<Shape, std::vector<size_t>> groups;
  std::vector<Shape> order;
  for (size_t i = 0; i < gs.size(); ++i) {
    const Gemm& g = gs[i];
    check(g);
    MOE_CHECK(g.ab == gs[0].ab && g.c == gs[0].c, "cuda grouped gemm: product ", i, " has dtypes ", g.ab, " -> ", g.c,
              ", product 0 ", gs[0].ab, " -> ", gs[0].c);
    const Shape key{g.ta, g.tb, g.M, g.N, g.K, g.lda, g.ldb, g.ldc};
    auto [it, fresh] = groups.try_emplace(key);
    if (fresh) order.push_back(key);
    it->second.push_back(i);
  }
  GroupedCall call;
  for (const Shape& key : order) {
    const Gemm& g = gs[groups[key].front()];
    call.trans_first.push_back(g.tb);
    call.trans_second.push_back(g.ta);
    call.m.push_back(g.N);
    call.n.push_back(g.M);
    call.k.push_back(g.K);
    call.ld_first.push_back(g.ldb);
    call.ld_second.push_back(g.lda);
    call.ldc.push_back(g.ldc);
    call.size.push_back(int64_t(groups[key].size()));
    for (size_t i : groups[key]) {
      call.first.push_back(gs[i].B);
      call.second.push_back(gs[i].A);
      call.out.push_back(gs[i].C);
    }
  }
  return call;
}

namespace {

// The pointer arrays of `call` to device memory `pointers`: first, second,
// out, each gs.size() long, through the device's pinned staging (which has
// the data once upload returns, so the host vector may go at once).
void upload_pointers(const GroupedCall& call, void* pointers, cudaStream_t stream) {
  std::vector<const void*> all(call.first);
  all.insert(all.end(), call.second.begin(), call.second.end());
  all.insert(all.end(), call.out.begin(), call.out.end());
  int device = 0;
  MOE_CUDA_CHECK(cudaGetDevice(&device));
  device_context(device).staging.upload(pointers, all.data(), all.size() * sizeof(void*), stream);
}

}  // namespace

void check(const Fp8Gemm& g) {
  const auto fp8_type = [](DType t) { return t == DType::f8e4m3 || t == DType::f8e5m2; };
  MOE_CHECK(fp8_type(g.a_type) && fp8_type(g.b_type), "cuda fp8 gemm: operands must be f8e4m3/f8e5m2, got ", g.a_type,
            " and ", g.b_type);
  MOE_CHECK(g.M > 0 && g.N > 0 && g.K > 0, "cuda fp8 gemm: empty product ", g.M, " x ", g.N, " x ", g.K);
  const bool a_ok = g.a_layout == fp8::Layout::per_tensor || g.a_layout == fp8::Layout::tile_1x128;
  const bool b_ok = g.b_layout == fp8::Layout::per_tensor || g.b_layout == fp8::Layout::tile_1x128 ||
                    g.b_layout == fp8::Layout::block_128x128;
  MOE_CHECK(a_ok && b_ok, "cuda fp8 gemm: scale layouts ", fp8::layout_name(g.a_layout), " (A) and ",
            fp8::layout_name(g.b_layout), " (B^T) are not a K-major pair");
  MOE_CHECK((g.a_layout == fp8::Layout::per_tensor) == (g.b_layout == fp8::Layout::per_tensor),
            "cuda fp8 gemm: per-tensor and block scales mixed (", fp8::layout_name(g.a_layout), ", ",
            fp8::layout_name(g.b_layout), ")");
  MOE_CHECK(g.chunk >= 1 && (g.a_layout == fp8::Layout::per_tensor || fp8::kTile % g.chunk == 0),
            "cuda fp8 gemm: promotion interval ", g.chunk, " must divide ", fp8::kTile, " with block scales");
}

bool gemm_grouped(const std::vector<Gemm>& gs, void* pointers, cudaStream_t stream) {
  if (gs.empty()) return true;
  const GroupedCall call = grouped_call(gs);
  if (gs[0].ab == DType::f64) return false;
  upload_pointers(call, pointers, stream);
  return detail::launch_grouped(call, gs[0].ab, gs[0].c, pointers, stream);
}

}  // namespace moe::cuda::blas

#if !defined(MOE_CUDA_SIM)
#include <cublasLt.h>
#include <cublas_v2.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <sstream>
#include <mutex>
#include <utility>

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

// One handle and workspace per (device, stream): a workspace is used in
// stream order, so two streams sharing one would overwrite each other's.
// The heuristic's pick per shape is cached per device.
struct Context {
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
  cublasHandle_t grouped = nullptr;  // cuBLAS (not Lt) for the grouped GEMM, bound to the stream
};
using AlgoKey = std::tuple<int, bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int, int>;

std::mutex g_mu;  // guards the maps below (lookups only; the calls run unlocked)
std::map<std::pair<int, cudaStream_t>, Context>& contexts() {
  static auto* m = new std::map<std::pair<int, cudaStream_t>, Context>();
  return *m;
}
std::map<AlgoKey, cublasLtMatmulAlgo_t>& algos() {
  static auto* m = new std::map<AlgoKey, cublasLtMatmulAlgo_t>();
  return *m;
}

int current_device() {
  int device = 0;
  MOE_CUDA_CHECK(cudaGetDevice(&device));
  return device;
}

Context& context(int device, cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(g_mu);
  Context& c = contexts()[{device, stream}];
  if (!c.handle) {
    MOE_CUBLASLT_CHECK(cublasLtCreate(&c.handle));
    MOE_CUDA_CHECK(cudaMalloc(&c.workspace, kWorkspace));
  }
  return c;
}

cublasHandle_t cublas_handle(int device, cudaStream_t stream) {
  Context& c = context(device, stream);
  std::lock_guard<std::mutex> lock(g_mu);
  if (!c.grouped) {
    cublasStatus_t st = cublasCreate(&c.grouped);
    MOE_CHECK(st == CUBLAS_STATUS_SUCCESS, "cuBLAS: cublasCreate failed: ", cublasGetStatusString(st));
    st = cublasSetStream(c.grouped, stream);
    MOE_CHECK(st == CUBLAS_STATUS_SUCCESS, "cuBLAS: cublasSetStream failed: ", cublasGetStatusString(st));
  }
  return c.grouped;
}

template <typename... Args>
std::string text(const Args&... args) {
  std::ostringstream os;
  moe::detail::append(os, args...);
  return os.str();
}

// The heuristic's first algorithm for these descriptors, found once per
// key (the call itself runs unlocked); `what` names the product in the error.
cublasLtMatmulAlgo_t cached_algo(Context& ctx, const AlgoKey& key, cublasLtMatmulDesc_t op,
                                 cublasLtMatrixLayout_t first, cublasLtMatrixLayout_t second,
                                 cublasLtMatrixLayout_t out, const std::function<std::string()>& what) {
  {
    std::lock_guard<std::mutex> lock(g_mu);
    auto it = algos().find(key);
    if (it != algos().end()) return it->second;
  }
  cublasLtMatmulPreference_t pref = nullptr;
  MOE_CUBLASLT_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  const size_t ws = kWorkspace;
  MOE_CUBLASLT_CHECK(
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
  cublasLtMatmulHeuristicResult_t result = {};
  int found = 0;
  const cublasStatus_t st =
      cublasLtMatmulAlgoGetHeuristic(ctx.handle, op, first, second, out, out, pref, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  MOE_CHECK(st == CUBLAS_STATUS_SUCCESS && found > 0, "cuBLASLt: no algorithm for ", what(), ": ",
            cublasLtGetStatusString(st));
  std::lock_guard<std::mutex> lock(g_mu);
  algos().emplace(key, result.algo);
  return result.algo;
}

// Whether cuBLAS takes a dtype pair in its grouped GEMM (f32 -> f32,
// bf16 -> f32): unknown until the first call, then taken or declined.
enum class Pair : int { unknown, taken, declined };
std::atomic<Pair> grouped_pairs[2];

}  // namespace

namespace detail {

bool launch_grouped(const GroupedCall& call, DType ab, DType c, const void* pointers, cudaStream_t stream) {
  std::atomic<Pair>& pair = grouped_pairs[ab == DType::bf16 ? 1 : 0];
  if (pair.load() == Pair::declined) return false;
  const cublasHandle_t h = cublas_handle(current_device(), stream);
  const size_t n = call.first.size(), groups = call.size.size();
  std::vector<cublasOperation_t> t1(groups), t2(groups);
  for (size_t i = 0; i < groups; ++i) {
    t1[i] = call.trans_first[i] ? CUBLAS_OP_T : CUBLAS_OP_N;
    t2[i] = call.trans_second[i] ? CUBLAS_OP_T : CUBLAS_OP_N;
  }
  const std::vector<float> alpha(groups, 1.0f), beta(groups, 0.0f);
  const cudaDataType_t in = cuda_type(ab), res = cuda_type(c);
  const void* const* arrays = static_cast<const void* const*>(pointers);
  void* const* outs = reinterpret_cast<void* const*>(const_cast<void*>(pointers)) + 2 * n;
  const cublasStatus_t st = cublasGemmGroupedBatchedEx_64(
      h, t1.data(), t2.data(), call.m.data(), call.n.data(), call.k.data(), alpha.data(), arrays, in,
      call.ld_first.data(), arrays + n, in, call.ld_second.data(), beta.data(), outs, res, call.ldc.data(),
      int64_t(groups), call.size.data(), CUBLAS_COMPUTE_32F);
  if (st == CUBLAS_STATUS_SUCCESS) {
    pair.store(Pair::taken);
    return true;
  }
  // A refusal before any success is the library not taking the pair; after
  // one, any failure is ours.
  Pair expected = Pair::unknown;
  if ((st == CUBLAS_STATUS_NOT_SUPPORTED || st == CUBLAS_STATUS_INVALID_VALUE) &&
      pair.compare_exchange_strong(expected, Pair::declined)) {
    std::fprintf(stderr, "moe: cuBLAS grouped GEMM declined %s -> %s (%s); those products run one cuBLASLt GEMM each\n",
                 dtype_name(ab), dtype_name(c), cublasGetStatusString(st));
    return false;
  }
  MOE_CHECK(false, "cuBLAS: cublasGemmGroupedBatchedEx_64 (", groups, " groups, ", n, " products, ", ab, " -> ", c,
            ") failed: ", cublasGetStatusString(st));
}

}  // namespace detail

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
  const int device = current_device();
  Context& ctx = context(device, stream);
  Descriptors d(g);
  const AlgoKey key{device, g.ta, g.tb, g.M, g.N, g.K, g.lda, g.ldb, g.ldc, int(g.ab), int(g.c)};
  const cublasLtMatmulAlgo_t algo = cached_algo(ctx, key, d.op, d.first, d.second, d.out, [&] {
    return text(g.M, " x ", g.N, " x ", g.K, " (", dtype_name(g.ab), " -> ", dtype_name(g.c), ")");
  });
  const float one32 = 1.0f, zero32 = 0.0f;
  const double one64 = 1.0, zero64 = 0.0;
  const bool f64 = g.c == DType::f64;
  MOE_CUBLASLT_CHECK(cublasLtMatmul(ctx.handle, d.op, f64 ? static_cast<const void*>(&one64) : &one32, g.B, d.first,
                                    g.A, d.second, f64 ? static_cast<const void*>(&zero64) : &zero32, g.C, d.out,
                                    g.C, d.out, &algo, ctx.workspace, kWorkspace, stream));
}

// ---- FP8 ----
namespace {

cudaDataType_t fp8_cuda_type(DType t) { return t == DType::f8e5m2 ? CUDA_R_8F_E5M2 : CUDA_R_8F_E4M3; }

int32_t scale_mode(fp8::Layout l) {
  switch (l) {
    case fp8::Layout::tile_1x128: return CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F;
    case fp8::Layout::block_128x128: return CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F;
    default: return CUBLASLT_MATMUL_MATRIX_SCALE_SCALAR_32F;
  }
}

// The descriptors of one FP8 GEMM. cuBLASLt's first operand is our B^T
// ([N, K] row-major = column-major K x N, op T), its second our A (column-
// major K x M, op N); D = column-major N x M = our row-major C [M, N].
struct Fp8Descriptors {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t first = nullptr, second = nullptr, out = nullptr;
  Fp8Descriptors(const Fp8Gemm& g, const float* first_scales, const float* second_scales) {
    MOE_CUBLASLT_CHECK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t t1 = CUBLAS_OP_T, t2 = CUBLAS_OP_N;
    MOE_CUBLASLT_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &t1, sizeof t1));
    MOE_CUBLASLT_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &t2, sizeof t2));
    const int8_t fast_accum = 0;  // promote partial sums (DeepSeek-V3's point)
    MOE_CUBLASLT_CHECK(
        cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_FAST_ACCUM, &fast_accum, sizeof fast_accum));
    const int32_t m1 = scale_mode(g.b_layout), m2 = scale_mode(g.a_layout);
    MOE_CUBLASLT_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &m1, sizeof m1));
    MOE_CUBLASLT_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &m2, sizeof m2));
    MOE_CUBLASLT_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &first_scales,
                                                      sizeof first_scales));
    MOE_CUBLASLT_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &second_scales,
                                                      sizeof second_scales));
    MOE_CUBLASLT_CHECK(cublasLtMatrixLayoutCreate(&first, fp8_cuda_type(g.b_type), uint64_t(g.K), uint64_t(g.N), g.K));
    MOE_CUBLASLT_CHECK(cublasLtMatrixLayoutCreate(&second, fp8_cuda_type(g.a_type), uint64_t(g.K), uint64_t(g.M), g.K));
    MOE_CUBLASLT_CHECK(cublasLtMatrixLayoutCreate(&out, CUDA_R_32F, uint64_t(g.N), uint64_t(g.M), g.N));
  }
  ~Fp8Descriptors() {
    if (out) cublasLtMatrixLayoutDestroy(out);
    if (second) cublasLtMatrixLayoutDestroy(second);
    if (first) cublasLtMatrixLayoutDestroy(first);
    if (op) cublasLtMatmulDescDestroy(op);
  }
  Fp8Descriptors(const Fp8Descriptors&) = delete;
  Fp8Descriptors& operator=(const Fp8Descriptors&) = delete;
};

// cuBLASLt's dequantisation scales from ours: d = 1 / s (the same f32
// reciprocal the emulation takes), the [rows, cols] grid stored with rows
// contiguous: each K block's scales of all outer rows together, the outer
// dimension of a K-major operand leading (cuBLASLt's block-scale order).
__global__ void dequant_scales_kernel(const float* __restrict__ s, int64_t rows, int64_t cols, float* __restrict__ d) {
  const int64_t n = rows * cols, step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += step)
    d[(i % cols) * rows + i / cols] = 1.0f / s[i];
}

void dequant_scales(const float* s, fp8::Layout l, int64_t outer, int64_t K, float* d, cudaStream_t stream) {
  const int64_t rows = fp8::scale_rows(l, outer), cols = fp8::scale_cols(l, K), n = rows * cols;
  const unsigned blocks = unsigned(std::min<int64_t>((n + 255) / 256, 4096));
  dequant_scales_kernel<<<blocks, 256, 0, stream>>>(s, rows, cols, d);
  MOE_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void describe(const Fp8Gemm& g) {
  check(g);
  Fp8Descriptors d(g, nullptr, nullptr);
}

void fp8_gemm(const Fp8Gemm& g, cudaStream_t stream) {
  check(g);
  const int device = current_device();
  Context& ctx = context(device, stream);
  // The two grids of dequantisation scales, from the caching allocator
  // (ordered on the current stream, which callers pass as `stream`).
  const int64_t na = fp8::scale_rows(g.a_layout, g.M) * fp8::scale_cols(g.a_layout, g.K);
  const int64_t nb = fp8::scale_rows(g.b_layout, g.N) * fp8::scale_cols(g.b_layout, g.K);
  const Tensor scratch = empty({na + nb}, DType::f32, Device::cuda(device));
  float* scales = scratch.device_data<float>();
  dequant_scales(g.a_scales, g.a_layout, g.M, g.K, scales, stream);
  dequant_scales(g.b_scales, g.b_layout, g.N, g.K, scales + na, stream);
  Fp8Descriptors d(g, scales + na, scales);
  const AlgoKey key{device, true, false, g.M, g.N, g.K, int64_t(g.a_layout), int64_t(g.b_layout), 0,
                    int(g.a_type) + 16, int(g.b_type) + 16};
  const cublasLtMatmulAlgo_t algo = cached_algo(ctx, key, d.op, d.first, d.second, d.out, [&] {
    return text("FP8 ", g.M, " x ", g.N, " x ", g.K, " (scales ", fp8::layout_name(g.a_layout), " x ",
                         fp8::layout_name(g.b_layout), "; block scales need cuBLAS >= 12.9 on SM90)");
  });
  const float one = 1.0f, zero = 0.0f;
  MOE_CUBLASLT_CHECK(cublasLtMatmul(ctx.handle, d.op, &one, g.Bt, d.first, g.A, d.second, &zero, g.C, d.out, g.C,
                                    d.out, &algo, ctx.workspace, kWorkspace, stream));
}

}  // namespace moe::cuda::blas
#endif
