// CUDA kernels of the attention family: causal (optionally windowed) GQA
// attention with one block per query row (forward, dQ) or per key row (dK,
// dV). A row's scores live in shared memory, never a T x T matrix in global
// memory; every sum runs in a fixed order (row sums over the block tree,
// the P V and dS K products key by key), and each output element has one
// writer, so results are bitwise reproducible run to run. The reference
// path: correct for every head shape (GQA, MLA's Dh != Dv), not yet tiled
// for tensor cores.
#include <cmath>

#include "core/cuda/attention.h"
#include "core/cuda/block_reduce.h"
#include "core/cuda/launch.h"
#include "core/dtype_switch.h"
#include "core/kernels/fast_exp.h"
#include "core/kernels/nn_math.h"
#include "core/ops.h"

namespace moe::cuda {
namespace {

// Shapes of one call: q [B, T, H, Dh], k [B, T, Hkv, Dh], v [B, T, Hkv, Dv].
struct Dims {
  int64_t B, T, H, Hkv, Dh, Dv;
  MOE_HD int64_t q_row(int64_t b, int64_t t, int64_t h) const { return ((b * T + t) * H + h) * Dh; }
  MOE_HD int64_t o_row(int64_t b, int64_t t, int64_t h) const { return ((b * T + t) * H + h) * Dv; }
  MOE_HD int64_t k_row(int64_t b, int64_t t, int64_t h) const { return ((b * T + t) * Hkv + h) * Dh; }
  MOE_HD int64_t v_row(int64_t b, int64_t t, int64_t h) const { return ((b * T + t) * Hkv + h) * Dv; }
  MOE_HD int64_t lse_at(int64_t b, int64_t h, int64_t t) const { return (b * H + h) * T + t; }
};
Dims dims(const Tensor& q, const Tensor& k, const Tensor& v) {
  return {q.shape()[0], q.shape()[1], q.shape()[2], k.shape()[2], q.shape()[3], v.shape()[3]};
}

template <typename T>
MOE_HD T dot(const T* a, const T* b, int64_t n) {
  T acc = 0;
  for (int64_t d = 0; d < n; ++d) acc += a[d] * b[d];
  return acc;
}

// One (b, h, i) per block: s_j = scale q_i . k_j over the window, P =
// softmax(s), out_i = P V, lse_i = max + log(sum).
template <typename T>
__global__ void attention_fwd_kernel(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                                     T scale, int64_t window, Dims d, T* __restrict__ out, T* __restrict__ lse) {
  MOE_DYNAMIC_SHARED(T, s);
  __shared__ T sm[kBlock];
  __shared__ double sd[kBlock];
  for (int64_t row = blockIdx.x; row < d.B * d.H * d.T; row += gridDim.x) {
    const int64_t i = row % d.T, h = (row / d.T) % d.H, b = row / (d.T * d.H);
    const int64_t kh = nn_math::gqa_kv_head(h, d.H, d.Hkv), lo = nn_math::attn_key_begin(i, window), n = i + 1 - lo;
    const T* qi = q + d.q_row(b, i, h);
    for (int64_t u = threadIdx.x; u < n; u += blockDim.x) s[u] = scale * dot(qi, k + d.k_row(b, lo + u, kh), d.Dh);
    __syncthreads();
    T m = -INFINITY;
    for (int64_t u = threadIdx.x; u < n; u += blockDim.x) m = MaxSkipNanOp()(m, s[u]);
    m = block_reduce(m, MaxSkipNanOp(), sm);
    double acc = 0;
    for (int64_t u = threadIdx.x; u < n; u += blockDim.x) {
      s[u] = math::exp_t(s[u] - m);
      acc += double(s[u]);
    }
    const double total = block_reduce(acc, SumOp(), sd);  // its barriers order the writes of s above
    const T inv = T(1.0 / total);
    if (threadIdx.x == 0) lse[d.lse_at(b, h, i)] = T(double(m) + ::log(total));
    T* oi = out + d.o_row(b, i, h);
    for (int64_t c = threadIdx.x; c < d.Dv; c += blockDim.x) {
      T o = 0;
      for (int64_t u = 0; u < n; ++u) o += (s[u] * inv) * v[d.v_row(b, lo + u, kh) + c];
      oi[c] = o;
    }
    __syncthreads();  // s is rewritten by the next row
  }
}

// One (b, h, i) per block: P_j = exp(s_j - lse_i), dP_j = g_i . v_j,
// D_i = g_i . out_i, dS_j = P_j (dP_j - D_i) scale, dq_i = dS K. Keeps D_i
// (rowdot) for the key-row kernel.
template <typename T>
__global__ void attention_dq_kernel(const T* __restrict__ g, const T* __restrict__ q, const T* __restrict__ k,
                                    const T* __restrict__ v, const T* __restrict__ out, const T* __restrict__ lse,
                                    T scale, int64_t window, Dims d, T* __restrict__ dq, T* __restrict__ rowdot) {
  MOE_DYNAMIC_SHARED(T, ds);
  __shared__ double sd[kBlock];
  for (int64_t row = blockIdx.x; row < d.B * d.H * d.T; row += gridDim.x) {
    const int64_t i = row % d.T, h = (row / d.T) % d.H, b = row / (d.T * d.H);
    const int64_t kh = nn_math::gqa_kv_head(h, d.H, d.Hkv), lo = nn_math::attn_key_begin(i, window), n = i + 1 - lo;
    const T *qi = q + d.q_row(b, i, h), *gi = g + d.o_row(b, i, h), *oi = out + d.o_row(b, i, h);
    double acc = 0;
    for (int64_t c = threadIdx.x; c < d.Dv; c += blockDim.x) acc += double(gi[c]) * double(oi[c]);
    const T di = T(block_reduce(acc, SumOp(), sd));
    const T li = lse[d.lse_at(b, h, i)];
    if (threadIdx.x == 0) rowdot[d.lse_at(b, h, i)] = di;
    for (int64_t u = threadIdx.x; u < n; u += blockDim.x) {
      const int64_t j = lo + u;
      const T p = math::exp_t(scale * dot(qi, k + d.k_row(b, j, kh), d.Dh) - li);
      const T dp = dot(gi, v + d.v_row(b, j, kh), d.Dv);
      ds[u] = p * (dp - di) * scale;
    }
    __syncthreads();
    T* dqi = dq + d.q_row(b, i, h);
    for (int64_t c = threadIdx.x; c < d.Dh; c += blockDim.x) {
      T a = 0;
      for (int64_t u = 0; u < n; ++u) a += ds[u] * k[d.k_row(b, lo + u, kh) + c];
      dqi[c] = a;
    }
    __syncthreads();
  }
}

// One (b, kv head, j) per block: over the query heads of the kv head in
// order and the queries that see key j, dv_j = sum P_ij g_i and
// dk_j = sum dS_ij q_i.
template <typename T>
__global__ void attention_dkv_kernel(const T* __restrict__ g, const T* __restrict__ q, const T* __restrict__ k,
                                     const T* __restrict__ v, const T* __restrict__ lse,
                                     const T* __restrict__ rowdot, T scale, int64_t window, Dims d,
                                     T* __restrict__ dk, T* __restrict__ dv) {
  MOE_DYNAMIC_SHARED(T, shared);
  const int64_t G = d.H / d.Hkv;
  for (int64_t row = blockIdx.x; row < d.B * d.Hkv * d.T; row += gridDim.x) {
    const int64_t j = row % d.T, kh = (row / d.T) % d.Hkv, b = row / (d.T * d.Hkv);
    const int64_t hi = window > 0 && j + window < d.T ? j + window : d.T, n = hi - j;
    T* p = shared;
    T* ds = shared + n;
    const T *kj = k + d.k_row(b, j, kh), *vj = v + d.v_row(b, j, kh);
    T *dkj = dk + d.k_row(b, j, kh), *dvj = dv + d.v_row(b, j, kh);
    for (int64_t hh = 0; hh < G; ++hh) {
      const int64_t h = kh * G + hh;
      for (int64_t u = threadIdx.x; u < n; u += blockDim.x) {
        const int64_t i = j + u;
        const T pij = math::exp_t(scale * dot(q + d.q_row(b, i, h), kj, d.Dh) - lse[d.lse_at(b, h, i)]);
        const T dp = dot(g + d.o_row(b, i, h), vj, d.Dv);
        p[u] = pij;
        ds[u] = pij * (dp - rowdot[d.lse_at(b, h, i)]) * scale;
      }
      __syncthreads();
      for (int64_t c = threadIdx.x; c < d.Dv; c += blockDim.x) {
        T a = hh == 0 ? T(0) : dvj[c];
        for (int64_t u = 0; u < n; ++u) a += p[u] * g[d.o_row(b, j + u, h) + c];
        dvj[c] = a;
      }
      for (int64_t c = threadIdx.x; c < d.Dh; c += blockDim.x) {
        T a = hh == 0 ? T(0) : dkj[c];
        for (int64_t u = 0; u < n; ++u) a += ds[u] * q[d.q_row(b, j + u, h) + c];
        dkj[c] = a;
      }
      __syncthreads();
    }
  }
}

// One (b, h) per block: the largest scaled logit over the causal window.
template <typename T>
__global__ void attention_max_logits_kernel(const T* __restrict__ q, const T* __restrict__ k, T scale,
                                            int64_t window, Dims d, T* __restrict__ out) {
  __shared__ T sm[kBlock];
  for (int64_t bh = blockIdx.x; bh < d.B * d.H; bh += gridDim.x) {
    const int64_t b = bh / d.H, h = bh % d.H, kh = nn_math::gqa_kv_head(h, d.H, d.Hkv);
    T m = -INFINITY;
    for (int64_t i = threadIdx.x; i < d.T; i += blockDim.x)
      for (int64_t j = nn_math::attn_key_begin(i, window); j <= i; ++j)
        m = MaxSkipNanOp()(m, scale * dot(q + d.q_row(b, i, h), k + d.k_row(b, j, kh), d.Dh));
    m = block_reduce(m, MaxSkipNanOp(), sm);
    if (threadIdx.x == 0) out[bh] = m;
  }
}

// Dynamic shared memory beyond the default 48 KiB needs the kernel's opt-in.
template <typename K>
void allow_shared(K* kernel, size_t bytes) {
  if (bytes > 48 * 1024)
    MOE_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
}

}  // namespace

void attention_fwd(const Tensor& q, const Tensor& k, const Tensor& v, double scale, int64_t window,
                   const Tensor& out, const Tensor& lse) {
  const Dims d = dims(q, k, v);
  if (d.B * d.H * d.T == 0) return;
  DeviceGuard on(q);
  dtype_switch_float(q.dtype(), "scaled_dot_product_attention", [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto* kern = &attention_fwd_kernel<T>;
    const size_t smem = size_t(d.T) * sizeof(T);
    allow_shared(kern, smem);
    MOE_LAUNCH(kern, row_grid(d.B * d.H * d.T), kBlock, smem, current_stream())(
        q.device_data<T>(), k.device_data<T>(), v.device_data<T>(), T(scale), window, d, out.device_data<T>(),
        lse.device_data<T>());
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

void attention_bwd(const Tensor& g, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                   const Tensor& lse, double scale, int64_t window, const Tensor& dq, const Tensor& dk,
                   const Tensor& dv) {
  const Dims d = dims(q, k, v);
  if (d.B * d.H * d.T == 0) return;
  DeviceGuard on(q);
  const Tensor rowdot = empty({d.B, d.H, d.T}, q.dtype(), q.device());
  dtype_switch_float(q.dtype(), "scaled_dot_product_attention backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto* kq = &attention_dq_kernel<T>;
    const size_t smem_q = size_t(d.T) * sizeof(T);
    allow_shared(kq, smem_q);
    MOE_LAUNCH(kq, row_grid(d.B * d.H * d.T), kBlock, smem_q, current_stream())(
        g.device_data<T>(), q.device_data<T>(), k.device_data<T>(), v.device_data<T>(), out.device_data<T>(),
        lse.device_data<T>(), T(scale), window, d, dq.device_data<T>(), rowdot.device_data<T>());
    auto* kkv = &attention_dkv_kernel<T>;
    const size_t smem_kv = 2 * size_t(d.T) * sizeof(T);
    allow_shared(kkv, smem_kv);
    MOE_LAUNCH(kkv, row_grid(d.B * d.Hkv * d.T), kBlock, smem_kv, current_stream())(
        g.device_data<T>(), q.device_data<T>(), k.device_data<T>(), v.device_data<T>(), lse.device_data<T>(),
        rowdot.device_data<T>(), T(scale), window, d, dk.device_data<T>(), dv.device_data<T>());
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

void attention_max_logits(const Tensor& q, const Tensor& k, double scale, int64_t window, const Tensor& out) {
  const Dims d = dims(q, k, k);
  if (d.B * d.H == 0) return;
  DeviceGuard on(q);
  dtype_switch_float(q.dtype(), "attention_max_logits", [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto* kern = &attention_max_logits_kernel<T>;
    MOE_LAUNCH(kern, row_grid(d.B * d.H), kBlock, 0, current_stream())(
        q.device_data<T>(), k.device_data<T>(), T(scale), window, d, out.device_data<T>());
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

}  // namespace moe::cuda
