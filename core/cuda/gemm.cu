// The GEMM family on the GPU: a batched product is one cuda::blas::gemm per
// batch (cuBLASLt, or the CPU's BLAS under the SIMT shim); the experts'
// products one grouped GEMM (cuBLAS). Operands go as they
// are when BLAS can read them (row-major or transposed views), else as
// contiguous copies; bf16 precision rounds f32 operands to bf16 tensors and
// sums in f32, as the CPU's bf16 path does.
#include <vector>

#include "core/backend/copy.h"
#include "core/backend/gemm.h"
#include "core/cuda/blas.h"
#include "core/cuda/gemm.h"
#include "core/cuda/launch.h"
#include "core/ops.h"

namespace moe::cuda {
namespace {


// t as BLAS reads it: itself, or a contiguous copy (in bf16 when asked).
// Kernel-level copies: no autograd record.
Tensor operand(const Tensor& t, bool bf16) {
  if (!bf16 && backend::blas_layout(t)) return t;
  Tensor c = empty(t.shape(), bf16 ? DType::bf16 : t.dtype(), t.device());
  backend::copy_strided(c, t, false);
  return c;
}

}  // namespace

void matmul(const Tensor& a_in, const Tensor& b_in, const Tensor& out, MatmulPrecision precision) {
  const size_t nd = size_t(out.dim());
  const int64_t M = out.shape()[nd - 2], N = out.shape()[nd - 1], K = a_in.shape().back();
  if (out.numel() == 0) return;
  DeviceGuard on(out);
  if (K == 0) {
    backend::fill(out, 0.0);
    return;
  }
  MOE_CHECK(out.dtype() == DType::f32 || out.dtype() == DType::f64, "matmul: unsupported dtype ", out.dtype());
  const bool bf16 = precision == MatmulPrecision::bf16 && out.dtype() == DType::f32;
  const Tensor a = operand(a_in, bf16), b = operand(b_in, bf16);
  const backend::BlasLayout la = *backend::blas_layout(a), lb = *backend::blas_layout(b);
  const Shape batch(out.shape().begin(), out.shape().end() - 2);
  const Shape sa = backend::batch_strides(a, batch), sb = backend::batch_strides(b, batch);
  const size_t es = dtype_size(a.dtype()), eo = dtype_size(out.dtype());
  const char* pa = static_cast<const char*>(a.raw_data());
  const char* pb = static_cast<const char*>(b.raw_data());
  char* po = static_cast<char*>(out.raw_data());
  const int64_t P = shape_numel(batch);
  for (int64_t p = 0; p < P; ++p) {
    int64_t rem = p, oa = 0, ob = 0;
    for (int64_t d = int64_t(batch.size()) - 1; d >= 0; --d) {
      const int64_t i = rem % batch[size_t(d)];
      rem /= batch[size_t(d)];
      oa += i * sa[size_t(d)];
      ob += i * sb[size_t(d)];
    }
    blas::Gemm g;
    g.ta = la.trans;
    g.tb = lb.trans;
    g.M = M;
    g.N = N;
    g.K = K;
    g.ab = a.dtype();
    g.c = out.dtype();
    g.A = pa + size_t(oa) * es;
    g.lda = la.ld;
    g.B = pb + size_t(ob) * es;
    g.ldb = lb.ld;
    g.C = po + size_t(p * M * N) * eo;
    g.ldc = N;
    blas::gemm(g, current_stream());
  }
}

void matmul_each(const std::vector<backend::MatmulJob>& jobs, MatmulPrecision precision) {
  std::vector<Tensor> keep;  // operand copies, alive until the products are queued
  std::vector<blas::Gemm> gs;
  const Tensor* first = nullptr;
  for (const backend::MatmulJob& j : jobs) {
    MOE_CHECK(j.a.dim() == 2 && j.b.dim() == 2 && j.out.dim() == 2 && j.a.shape()[1] == j.b.shape()[0] &&
                  j.out.shape()[0] == j.a.shape()[0] && j.out.shape()[1] == j.b.shape()[1],
              "matmul_each: needs a [M, K], b [K, N], out [M, N], got ", j.a.str(), ", ", j.b.str(), ", ",
              j.out.str());
    if (j.out.numel() == 0) continue;
    // K = 0 and products of another dtype than the first go alone.
    if (j.a.shape()[1] == 0 || (first && j.out.dtype() != first->dtype())) {
      matmul(j.a, j.b, j.out, precision);
      continue;
    }
    MOE_CHECK(j.out.dtype() == DType::f32 || j.out.dtype() == DType::f64, "matmul_each: unsupported dtype ",
              j.out.dtype());
    MOE_CHECK(backend::blas_layout(j.out) && !backend::blas_layout(j.out)->trans,
              "matmul_each: out must have contiguous rows, got ", j.out.str());
    if (!first) first = &j.out;
    const bool bf16 = precision == MatmulPrecision::bf16 && j.out.dtype() == DType::f32;
    const Tensor a = operand(j.a, bf16), b = operand(j.b, bf16);
    keep.push_back(a);
    keep.push_back(b);
    const backend::BlasLayout la = *backend::blas_layout(a), lb = *backend::blas_layout(b);
    blas::Gemm g;
    g.ta = la.trans;
    g.tb = lb.trans;
    g.M = j.out.shape()[0];
    g.N = j.out.shape()[1];
    g.K = j.a.shape()[1];
    g.ab = a.dtype();
    g.c = j.out.dtype();
    g.A = a.raw_data();
    g.lda = la.ld;
    g.B = b.raw_data();
    g.ldb = lb.ld;
    g.C = j.out.raw_data();
    g.ldc = backend::blas_layout(j.out)->ld;
    gs.push_back(g);
  }
  if (gs.empty()) return;
  DeviceGuard on(*first);
  if (gs.size() > 1) {
    // The device reads the pointer arrays; the stream-ordered allocator keeps
    // the block until the call's work is queued ahead of any reuse.
    const Tensor pointers = empty({int64_t(3 * gs.size())}, DType::i64, first->device());
    if (blas::gemm_grouped(gs, pointers.raw_data(), current_stream())) return;
  }
  for (const blas::Gemm& g : gs) blas::gemm(g, current_stream());
}

}  // namespace moe::cuda
