#include "core/cpu/gemm.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <type_traits>
#include <vector>

#include "core/cpu/copy.h"
#include "core/cpu/gemm_bf16.h"
#include "core/dtype_switch.h"
#include "core/ops.h"
#include "core/threading.h"

namespace moe::cpu {

using backend::batch_strides;

namespace {

std::atomic<int64_t> g_operand_copies{0};

// OpenBLAS splits a multi-threaded GEMM by its thread count, and for some
// shapes (e.g. 1000^3, 517x129x333 with 0.3.21) the results then differ
// bitwise between 1 and 2 threads. So our ops keep OpenBLAS at one thread
// (set_num_threads in core/parallel.cc) and split the output into tiles fixed
// by the shapes alone; each tile is one single-threaded BLAS call over the
// whole K (OpenBLAS's own K blocking depends only on K), and our threads take
// the tiles. The ThreadDeterminism tests pin this down.
CBLAS_TRANSPOSE tr(bool t) { return t ? CblasTrans : CblasNoTrans; }

template <typename T>
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb,
          T beta, T* C, int64_t ldc) {
  gemm_call(ta, tb, M, N, K, T(1), A, lda, B, ldb, beta, C, ldc);
}

// Output tile of an [M, N] product, a function of the shape alone (never of
// the thread count). Up to 512 x 2048: large enough that BLAS packing is a
// few percent of the work. Rows, then columns, are halved (down to 64 and 256)
// until there are at least kMinTiles tiles to balance over the threads.
struct Tiles {
  int64_t m, n;
};
constexpr int64_t kMinTiles = 16;
Tiles tiles_for(int64_t M, int64_t N) {
  Tiles t{std::min<int64_t>(M, 1024), std::min<int64_t>(N, 1024)};
  auto count = [&] { return ((M + t.m - 1) / t.m) * ((N + t.n - 1) / t.n); };
  while (count() < kMinTiles && t.m > 64) t.m = (t.m + 1) / 2;
  while (count() < kMinTiles && t.n > 256) t.n = (t.n + 1) / 2;
  return t;
}

// One output tile: C[i0:i0+m, j0:j0+n] = op(A) @ op(B) over all of K.
template <typename T>
void gemm_tile(bool ta, bool tb, int64_t i0, int64_t m, int64_t j0, int64_t n, int64_t K, const T* A, int64_t lda,
               const T* B, int64_t ldb, T* C, int64_t ldc) {
  const T* a = ta ? A + i0 : A + i0 * lda;
  const T* b = tb ? B + j0 * ldb : B + j0;
  gemm(ta, tb, m, n, K, a, lda, b, ldb, T(0), C + i0 * ldc + j0, ldc);
}

// t itself when BLAS can read it, else a contiguous copy.
Tensor blas_operand(const Tensor& t) {
  if (blas_layout(t)) return t;
  ++g_operand_copies;
  Tensor c = empty(t.shape(), t.dtype(), t.device());
  copy_strided(c, t, false);
  return c;
}


// Row stride of `a` seen as one [P*M, K] row-major matrix (its batch dims and
// M collapse into one), or -1 when they do not.
int64_t folded_row_stride(const Tensor& a, const Shape& batch, const Shape& bst, int64_t M, int64_t K) {
  if (K > 1 && a.strides().back() != 1) return -1;
  int64_t row = -1, expect = 0;
  auto visit = [&](int64_t size, int64_t stride) {  // dims from inner to outer
    if (size == 1 || row == -2) return;
    if (row == -1) {
      row = stride;
    } else if (stride != expect) {
      row = -2;
      return;
    }
    expect = stride * size;
  };
  visit(M, a.strides()[size_t(a.dim() - 2)]);
  for (int64_t d = int64_t(batch.size()) - 1; d >= 0; --d) visit(batch[size_t(d)], bst[size_t(d)]);
  return row >= std::max<int64_t>(K, 1) ? row : -1;
}

}  // namespace

void gemm_call(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, tr(ta), tr(tb), blasint(M), blasint(N), blasint(K), alpha, A, blasint(lda), B,
              blasint(ldb), beta, C, blasint(ldc));
}
void gemm_call(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
               const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, tr(ta), tr(tb), blasint(M), blasint(N), blasint(K), alpha, A, blasint(lda), B,
              blasint(ldb), beta, C, blasint(ldc));
}

void blas_single_thread() {
  // OpenBLAS starts with all cores; our tiles must each run on one thread.
  static const bool done = (openblas_set_num_threads(1), true);
  (void)done;
}

int64_t matmul_operand_copies() { return g_operand_copies.load(); }

namespace {

// x rounded to bfloat16 and held in f32, for the bf16 path where the kernels
// are off: the bits of fp::f32_to_bf16 (nearest even; NaN -> the canonical
// quiet NaN with its sign), in a loop that vectorises.
Tensor rounded_to_bf16(const Tensor& x) {
  Tensor r = clone(x);
  uint32_t* u = reinterpret_cast<uint32_t*>(r.data<float>());
  parallel_for(r.numel(), 1 << 15, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const uint32_t v = u[i];
      const uint32_t rounded = (v + 0x7FFFu + ((v >> 16) & 1u)) & 0xFFFF0000u;
      u[i] = (v & 0x7FFFFFFFu) > 0x7F800000u ? (v & 0x80000000u) | 0x7FC00000u : rounded;
    }
  });
  return r;
}

}  // namespace

void matmul(const Tensor& a_in, const Tensor& b_in, const Tensor& out, MatmulPrecision precision) {
  const size_t nd = size_t(out.dim());
  const int64_t M = out.shape()[nd - 2], N = out.shape()[nd - 1], K = a_in.shape().back();
  if (out.numel() == 0) return;
  if (K == 0) {
    fill(out, 0.0);
    return;
  }
  const bool bf16 = precision == MatmulPrecision::bf16 && out.dtype() == DType::f32;
  const bool bf16_kernels = bf16 && bf16_kernels_enabled();
  if (bf16 && !bf16_kernels) {
    matmul(rounded_to_bf16(a_in), rounded_to_bf16(b_in), out, MatmulPrecision::fp32);
    return;
  }
  blas_single_thread();
  const Tensor a = blas_operand(a_in), b = blas_operand(b_in);
  const BlasLayout la = *blas_layout(a), lb = *blas_layout(b);
  MOE_CHECK(la.ld <= INT_MAX && lb.ld <= INT_MAX && N <= INT_MAX && K <= INT_MAX, "matmul: strides of ", a_in.str(), " @ ",
            b_in.str(), " exceed the BLAS int range");
  const Shape batch(out.shape().begin(), out.shape().end() - 2);
  const int64_t P = shape_numel(batch);
  const Shape sa = batch_strides(a, batch), sb = batch_strides(b, batch);

  dtype_switch_float(out.dtype(), "matmul", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* po = out.data<T>();
    // b shared by every batch and a's batches stacked row-major: one
    // [P*M, K] @ [K, N] product.
    const bool b_shared = std::all_of(sb.begin(), sb.end(), [](int64_t s) { return s == 0; });
    const int64_t folded = P > 1 && b_shared ? folded_row_stride(a, batch, sa, M, K) : -1;
    const bool fold = folded > 0;
    const int64_t batches = fold ? 1 : P, rows = fold ? P * M : M, lda = fold ? folded : la.ld;
    const bool ta = fold ? false : la.trans;
    std::vector<int64_t> off_a(size_t(batches), 0), off_b(size_t(batches), 0);
    for (int64_t p = 0; p < batches; ++p) {
      int64_t rem = p;
      for (int64_t d = int64_t(batch.size()) - 1; d >= 0; --d) {
        const int64_t i = rem % batch[size_t(d)];
        rem /= batch[size_t(d)];
        off_a[size_t(p)] += i * sa[size_t(d)];
        off_b[size_t(p)] += i * sb[size_t(d)];
      }
    }
    if constexpr (std::is_same_v<T, float>) {
      if (bf16_kernels) {  // one packed product per batch, each threaded inside
        for (int64_t p = 0; p < batches; ++p)
          gemm_bf16(ta, lb.trans, rows, N, K, 1.0f, pa + off_a[size_t(p)], lda, pb + off_b[size_t(p)], lb.ld,
                    po + p * M * N, N);
        return;
      }
    }
    const Tiles t = tiles_for(rows, N);
    const int64_t mt = (rows + t.m - 1) / t.m, nt = (N + t.n - 1) / t.n;
    parallel_for(batches * mt * nt, 1, [&](int64_t s, int64_t e) {
      for (int64_t task = s; task < e; ++task) {
        const int64_t p = task / (mt * nt), i0 = (task / nt) % mt * t.m, j0 = task % nt * t.n;
        gemm_tile<T>(ta, lb.trans, i0, std::min(t.m, rows - i0), j0, std::min(t.n, N - j0), K,
                     pa + off_a[size_t(p)], lda, pb + off_b[size_t(p)], lb.ld, po + p * M * N, N);
      }
    });
  });
}

void matmul_each(const std::vector<MatmulJob>& jobs, MatmulPrecision precision) {
  std::vector<Bf16Gemm> batch;
  bool batched = precision == MatmulPrecision::bf16 && bf16_kernels_enabled();
  for (const MatmulJob& j : jobs) {
    MOE_CHECK(j.a.dim() == 2 && j.b.dim() == 2 && j.out.dim() == 2 && j.a.shape()[1] == j.b.shape()[0] &&
                  j.out.shape()[0] == j.a.shape()[0] && j.out.shape()[1] == j.b.shape()[1],
              "matmul_each: needs a [M, K], b [K, N], out [M, N], got ", j.a.str(), ", ", j.b.str(), ", ",
              j.out.str());
    if (!batched) continue;
    const auto la = blas_layout(j.a), lb = blas_layout(j.b), lo = blas_layout(j.out);
    batched = j.out.dtype() == DType::f32 && j.a.dtype() == DType::f32 && j.b.dtype() == DType::f32 && la && lb &&
              lo && !lo->trans && j.a.shape()[1] > 0;
    if (batched)
      batch.push_back({la->trans, lb->trans, j.out.shape()[0], j.out.shape()[1], j.a.shape()[1], j.a.data<float>(),
                       la->ld, j.b.data<float>(), lb->ld, j.out.data<float>(), lo->ld});
  }
  if (batched) {
    gemm_bf16_batch(batch, 1.0f);
    return;
  }
  for (const MatmulJob& j : jobs) matmul(j.a, j.b, j.out, precision);
}

}  // namespace moe::cpu
