// CUDA kernels of the attention family: causal (optionally windowed) GQA
// attention, tiled flash-style. A block takes R query rows (forward, dQ) or R
// keys (dK, dV) of one head and walks the R x R tiles its causal window
// reaches: K/V (or Q/dO) tiles pass through shared memory, the scores of one
// tile live only there, and the forward keeps a running max and sum per row
// (online softmax), so no T x T matrix ever reaches global memory. The
// backward recomputes P from the saved log-sum-exp; dQ and dK/dV are two
// kernels, so every output element has one writer and no atomics are needed.
// Each of the (R/4)^2 threads owns a 4 x 4 micro-tile of every R x R product
// and adds its terms in ascending order: results are bitwise reproducible run
// to run. R is 64, 32 or 16, the largest whose tiles fit the shared memory of
// two blocks per SM (else of one), chosen per call from the head dims. The
// max-logit statistic of QK-Clip walks the same tiles. The products run on
// the FMA units, not the tensor cores.
#include <cmath>
#include <string>
#include <type_traits>

#include "core/cuda/attention.h"
#include "core/cuda/block_reduce.h"
#include "core/cuda/reduce.h"
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

// Query i sees key j.
MOE_HD bool sees(int64_t i, int64_t j, int64_t T, int64_t window) {
  return i < T && j <= i && j >= nn_math::attn_key_begin(i, window);
}

// Threads of a tile kernel: (R/4)^2, thread t at (ty, tx) = (t / (R/4), t % (R/4))
// owns rows ty + (R/4) a and columns tx + (R/4) b (a, b < 4) of each R x R
// product; for a row's softmax R/16 neighbouring threads share one row.
template <int R>
struct Tile {
  static constexpr int kSide = R / 4;
  static constexpr int kThreads = kSide * kSide;
  static constexpr int kPerRow = kThreads / R;
};

// acc[a][b] = sum over d < depth, ascending, of A(ty + (R/4) a, d) B(tx + (R/4) b, d).
template <int R, typename T, typename FA, typename FB>
__device__ __forceinline__ void micro_product(int ty, int tx, int depth, const FA& fa, const FB& fb,
                                              T (&acc)[4][4]) {
  MOE_UNROLL
  for (int a = 0; a < 4; ++a) {
    MOE_UNROLL
    for (int b = 0; b < 4; ++b) acc[a][b] = T(0);
  }
  for (int d = 0; d < depth; ++d) {
    T x[4], y[4];
    MOE_UNROLL
    for (int a = 0; a < 4; ++a) x[a] = fa(ty + a * Tile<R>::kSide, d);
    MOE_UNROLL
    for (int b = 0; b < 4; ++b) y[b] = fb(tx + b * Tile<R>::kSide, d);
    MOE_UNROLL
    for (int a = 0; a < 4; ++a) {
      MOE_UNROLL
      for (int b = 0; b < 4; ++b) acc[a][b] += x[a] * y[b];
    }
  }
}

// f(row, col) for each element this thread owns of an R-row, `width`-column
// matrix (columns in chunks of R: tx + (R/4) b, plus each chunk's start).
template <int R, typename F>
__device__ __forceinline__ void each_owned(int ty, int tx, int width, const F& f) {
  for (int c0 = 0; c0 < width; c0 += R) {
    MOE_UNROLL
    for (int a = 0; a < 4; ++a) {
      MOE_UNROLL
      for (int c = 0; c < 4; ++c) {
        const int col = c0 + tx + c * Tile<R>::kSide;
        if (col < width) f(ty + a * Tile<R>::kSide, col);
      }
    }
  }
}

// For an R x `width` product summed over R terms: per chunk of R columns
// the thread's micro-tile of sum_e A(row, e) B(col, e), handed to
// f(row, col, value) for col < width.
template <int R, typename T, typename FA, typename FB, typename F>
__device__ __forceinline__ void chunked_product(int ty, int tx, int width, const FA& fa, const FB& fb, const F& f) {
  for (int c0 = 0; c0 < width; c0 += R) {
    T acc[4][4];
    micro_product<R>(ty, tx, R, fa, [&](int c, int e) { return c0 + c < width ? fb(c0 + c, e) : T(0); }, acc);
    MOE_UNROLL
    for (int a = 0; a < 4; ++a) {
      MOE_UNROLL
      for (int c = 0; c < 4; ++c) {
        const int col = c0 + tx + c * Tile<R>::kSide;
        if (col < width) f(ty + a * Tile<R>::kSide, col, acc[a][c]);
      }
    }
  }
}

// Sum over the kPerRow neighbouring lanes of one row (a butterfly: every lane
// gets the same bits); the same for the max.
template <int R, typename T>
__device__ __forceinline__ T row_sum(T v) {
  for (int o = 1; o < Tile<R>::kPerRow; o <<= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
template <int R, typename T>
__device__ __forceinline__ T row_max(T v) {
  for (int o = 1; o < Tile<R>::kPerRow; o <<= 1) v = MaxSkipNanOp()(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// rows x width of a [*, ld_src] global matrix (row r at src + r * ld_src)
// into shared dst[r * ld_dst + c]; rows beyond `rows` (up to R) are zeros.
template <int R, typename T>
__device__ __forceinline__ void load_tile(T* dst, int ld_dst, const T* src, int64_t ld_src, int64_t rows,
                                          int width) {
  for (int e = int(threadIdx.x); e < R * width; e += Tile<R>::kThreads) {
    const int r = e / width, c = e % width;
    dst[r * ld_dst + c] = r < rows ? src[r * ld_src + c] : T(0);
  }
}

// Element offsets into one block's shared memory. Tiles read along their
// rows by the micro-tile's column threads get one element of padding, so the
// threads of a warp hit different banks.
struct FwdSmem {
  int ldk, q, k, v, s, o, l, alpha, total;
  MOE_HD FwdSmem(int R, int Dh, int Dv) : ldk(Dh + 1) {
    q = 0, k = q + R * ldk, v = k + R * ldk, s = v + R * Dv, o = s + R * (R + 1);
    l = o + R * Dv, alpha = l + R, total = alpha + R;
  }
};
struct DqSmem {
  int ldk, ldv, q, g, k, v, ds, dq, lse, rd, total;
  MOE_HD DqSmem(int R, int Dh, int Dv) : ldk(Dh + 1), ldv(Dv + 1) {
    q = 0, g = q + R * ldk, k = g + R * ldv, v = k + R * ldk, ds = v + R * ldv, dq = ds + R * (R + 1);
    lse = dq + R * Dh, rd = lse + R, total = rd + R;
  }
};
struct DkvSmem {
  int ldk, ldv, k, v, dk, dv, q, g, p, ds, lse, rd, total;
  MOE_HD DkvSmem(int R, int Dh, int Dv) : ldk(Dh + 1), ldv(Dv + 1) {
    k = 0, v = k + R * ldk, dk = v + R * ldv, dv = dk + R * Dh, q = dv + R * Dv, g = q + R * ldk;
    p = g + R * ldv, ds = p + R * (R + 1), lse = ds + R * (R + 1), rd = lse + R, total = rd + R;
  }
};

// One (b, h, query tile) per block: for each key tile, S = scale Q K^T
// (masked to -inf outside the window), the running max m and sum l of every
// row take the tile in, O = O exp(m_old - m) + exp(S - m) V; at the end
// out = O / l and lse = m + log l.
template <typename T, int R>
__global__ void __launch_bounds__(Tile<R>::kThreads, 1)
    attention_fwd_kernel(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v, T scale,
                         int64_t window, Dims d, T* __restrict__ out, T* __restrict__ lse) {
  MOE_DYNAMIC_SHARED(T, smem);
  using Tl = Tile<R>;
  const int Dh = int(d.Dh), Dv = int(d.Dv);
  const FwdSmem L(R, Dh, Dv);
  T *sq = smem + L.q, *sk = smem + L.k, *sv = smem + L.v, *ss = smem + L.s, *so = smem + L.o;
  T *sl = smem + L.l, *sa = smem + L.alpha;
  const int ty = int(threadIdx.x) / Tl::kSide, tx = int(threadIdx.x) % Tl::kSide;
  const int row = int(threadIdx.x) / Tl::kPerRow, lane = int(threadIdx.x) % Tl::kPerRow;
  const int64_t tiles = (d.T + R - 1) / R;
  for (int64_t w = blockIdx.x; w < d.B * d.H * tiles; w += gridDim.x) {
    const int64_t i0 = (w % tiles) * R, h = (w / tiles) % d.H, b = w / (tiles * d.H);
    const int64_t rows = d.T - i0 < R ? d.T - i0 : R, kh = nn_math::gqa_kv_head(h, d.H, d.Hkv);
    __syncthreads();  // the previous tile's reads of shared memory are done
    load_tile<R>(sq, L.ldk, q + d.q_row(b, i0, h), d.H * Dh, rows, Dh);
    for (int e = int(threadIdx.x); e < R * Dv; e += Tl::kThreads) so[e] = T(0);
    // The running max and sum of this thread's row: every lane of the row
    // holds the same bits.
    T m_run = T(-INFINITY), l_run = T(0);
    const int64_t j_first = nn_math::attn_key_begin(i0, window) / R, j_last = (i0 + rows - 1) / R;
    for (int64_t jt = j_first; jt <= j_last; ++jt) {
      const int64_t j0 = jt * R, cols = d.T - j0 < R ? d.T - j0 : R;
      __syncthreads();
      load_tile<R>(sk, L.ldk, k + d.k_row(b, j0, kh), d.Hkv * Dh, cols, Dh);
      load_tile<R>(sv, Dv, v + d.v_row(b, j0, kh), d.Hkv * Dv, cols, Dv);
      __syncthreads();
      T acc[4][4];
      micro_product<R>(
          ty, tx, Dh, [&](int r, int e) { return sq[r * L.ldk + e]; },
          [&](int u, int e) { return sk[u * L.ldk + e]; }, acc);
      MOE_UNROLL
      for (int a = 0; a < 4; ++a) {
        MOE_UNROLL
        for (int c = 0; c < 4; ++c) {
          const int r = ty + a * Tl::kSide, u = tx + c * Tl::kSide;
          ss[r * (R + 1) + u] = sees(i0 + r, j0 + u, d.T, window) ? scale * acc[a][c] : T(-INFINITY);
        }
      }
      __syncthreads();
      // The row's online-softmax step, kPerRow threads per row.
      T mx = T(-INFINITY);
      for (int u = lane; u < R; u += Tl::kPerRow) mx = MaxSkipNanOp()(mx, ss[row * (R + 1) + u]);
      const T m_new = MaxSkipNanOp()(m_run, row_max<R>(mx));
      double part = 0;
      for (int u = lane; u < R; u += Tl::kPerRow) {
        T& s = ss[row * (R + 1) + u];
        s = m_new == T(-INFINITY) ? T(0) : math::exp_t(s - m_new);
        part += double(s);
      }
      const double sum = row_sum<R>(part);
      const T alpha = m_run == T(-INFINITY) ? T(0) : math::exp_t(m_run - m_new);
      l_run = T(double(l_run) * double(alpha) + sum);
      m_run = m_new;
      if (lane == 0) sa[row] = alpha;
      __syncthreads();
      chunked_product<R, T>(
          ty, tx, Dv, [&](int r, int u) { return ss[r * (R + 1) + u]; }, [&](int col, int u) { return sv[u * Dv + col]; },
          [&](int r, int col, T v) { so[r * Dv + col] = so[r * Dv + col] * sa[r] + v; });
    }
    if (lane == 0) sl[row] = l_run;
    __syncthreads();
    // Each thread writes the O elements it accumulated.
    each_owned<R>(ty, tx, Dv, [&](int r, int col) {
      if (r < rows) out[d.o_row(b, i0 + r, h) + col] = so[r * Dv + col] / sl[r];
    });
    if (lane == 0 && row < rows) lse[d.lse_at(b, h, i0 + row)] = T(double(m_run) + ::log(double(l_run)));
  }
}

// P and dS of one query tile against one key tile, for the thread's micro-tile
// (rows r = query, columns u = key): P = exp(scale q.k - lse), dP = g.v,
// dS = P (dP - D) scale, both 0 outside the window.
template <int R, typename T>
__device__ __forceinline__ void probabilities(int ty, int tx, const T* sq, int ldk, const T* sk, const T* sg,
                                              int ldv, const T* sv, const T* slse, const T* srd, int64_t i0,
                                              int64_t j0, const Dims& d, T scale, int64_t window, T (&p)[4][4],
                                              T (&ds)[4][4]) {
  const int Dh = int(d.Dh), Dv = int(d.Dv);
  micro_product<R>(
      ty, tx, Dh, [&](int r, int e) { return sq[r * ldk + e]; }, [&](int u, int e) { return sk[u * ldk + e]; },
      p);
  micro_product<R>(
      ty, tx, Dv, [&](int r, int e) { return sg[r * ldv + e]; }, [&](int u, int e) { return sv[u * ldv + e]; },
      ds);
  MOE_UNROLL
  for (int a = 0; a < 4; ++a) {
    MOE_UNROLL
    for (int c = 0; c < 4; ++c) {
      const int r = ty + a * Tile<R>::kSide, u = tx + c * Tile<R>::kSide;
      const bool in = sees(i0 + r, j0 + u, d.T, window);
      const T pr = in ? math::exp_t(scale * p[a][c] - slse[r]) : T(0);
      p[a][c] = pr;
      ds[a][c] = in ? pr * (ds[a][c] - srd[r]) * scale : T(0);
    }
  }
}

// The row's lse and D = g . out (kept in `rowdot` for the key kernel) into
// shared memory, kPerRow threads per row.
template <int R, typename T>
__device__ __forceinline__ void row_stats(const T* g, const T* out, const T* lse, int64_t b, int64_t h, int64_t i0,
                                          int64_t rows, const Dims& d, T* slse, T* srd) {
  const int row = int(threadIdx.x) / Tile<R>::kPerRow, lane = int(threadIdx.x) % Tile<R>::kPerRow;
  double part = 0;
  if (row < rows) {
    const T *gi = g + d.o_row(b, i0 + row, h), *oi = out + d.o_row(b, i0 + row, h);
    for (int64_t c = lane; c < d.Dv; c += Tile<R>::kPerRow) part += double(gi[c]) * double(oi[c]);
  }
  const double total = row_sum<R>(part);
  if (lane == 0) {
    srd[row] = T(total);
    slse[row] = row < rows ? lse[d.lse_at(b, h, i0 + row)] : T(0);
  }
}

// One (b, h, query tile) per block: dQ = sum over key tiles of dS K. Keeps
// D = rowsum(g out) in `rowdot` for the key kernel.
template <typename T, int R>
__global__ void __launch_bounds__(Tile<R>::kThreads, 1)
    attention_dq_kernel(const T* __restrict__ g, const T* __restrict__ q, const T* __restrict__ k,
                        const T* __restrict__ v, const T* __restrict__ out, const T* __restrict__ lse, T scale,
                        int64_t window, Dims d, T* __restrict__ dq, T* __restrict__ rowdot) {
  MOE_DYNAMIC_SHARED(T, smem);
  using Tl = Tile<R>;
  const int Dh = int(d.Dh), Dv = int(d.Dv);
  const DqSmem L(R, Dh, Dv);
  T *sq = smem + L.q, *sg = smem + L.g, *sk = smem + L.k, *sv = smem + L.v, *sds = smem + L.ds;
  T *sdq = smem + L.dq, *slse = smem + L.lse, *srd = smem + L.rd;
  const int ty = int(threadIdx.x) / Tl::kSide, tx = int(threadIdx.x) % Tl::kSide;
  const int row = int(threadIdx.x) / Tl::kPerRow, lane = int(threadIdx.x) % Tl::kPerRow;
  const int64_t tiles = (d.T + R - 1) / R;
  for (int64_t w = blockIdx.x; w < d.B * d.H * tiles; w += gridDim.x) {
    const int64_t i0 = (w % tiles) * R, h = (w / tiles) % d.H, b = w / (tiles * d.H);
    const int64_t rows = d.T - i0 < R ? d.T - i0 : R, kh = nn_math::gqa_kv_head(h, d.H, d.Hkv);
    __syncthreads();
    load_tile<R>(sq, L.ldk, q + d.q_row(b, i0, h), d.H * Dh, rows, Dh);
    load_tile<R>(sg, L.ldv, g + d.o_row(b, i0, h), d.H * Dv, rows, Dv);
    for (int e = int(threadIdx.x); e < R * Dh; e += Tl::kThreads) sdq[e] = T(0);
    row_stats<R>(g, out, lse, b, h, i0, rows, d, slse, srd);
    if (lane == 0 && row < rows) rowdot[d.lse_at(b, h, i0 + row)] = srd[row];
    const int64_t j_first = nn_math::attn_key_begin(i0, window) / R, j_last = (i0 + rows - 1) / R;
    for (int64_t jt = j_first; jt <= j_last; ++jt) {
      const int64_t j0 = jt * R, cols = d.T - j0 < R ? d.T - j0 : R;
      __syncthreads();
      load_tile<R>(sk, L.ldk, k + d.k_row(b, j0, kh), d.Hkv * Dh, cols, Dh);
      load_tile<R>(sv, L.ldv, v + d.v_row(b, j0, kh), d.Hkv * Dv, cols, Dv);
      __syncthreads();
      T p[4][4], ds[4][4];
      probabilities<R>(ty, tx, sq, L.ldk, sk, sg, L.ldv, sv, slse, srd, i0, j0, d, scale, window, p, ds);
      MOE_UNROLL
      for (int a = 0; a < 4; ++a) {
        MOE_UNROLL
        for (int c = 0; c < 4; ++c) sds[(ty + a * Tl::kSide) * (R + 1) + tx + c * Tl::kSide] = ds[a][c];
      }
      __syncthreads();
      chunked_product<R, T>(
          ty, tx, Dh, [&](int r, int u) { return sds[r * (R + 1) + u]; },
          [&](int col, int u) { return sk[u * L.ldk + col]; }, [&](int r, int col, T v) { sdq[r * Dh + col] += v; });
    }
    each_owned<R>(ty, tx, Dh, [&](int r, int col) {
      if (r < rows) dq[d.q_row(b, i0 + r, h) + col] = sdq[r * Dh + col];
    });
  }
}

// One (b, kv head, key tile) per block: over the query heads of the kv head
// in order and the query tiles that see the keys, dV += P^T g and
// dK += dS^T Q.
template <typename T, int R>
__global__ void __launch_bounds__(Tile<R>::kThreads, 1)
    attention_dkv_kernel(const T* __restrict__ g, const T* __restrict__ q, const T* __restrict__ k,
                         const T* __restrict__ v, const T* __restrict__ lse, const T* __restrict__ rowdot, T scale,
                         int64_t window, Dims d, T* __restrict__ dk, T* __restrict__ dv) {
  MOE_DYNAMIC_SHARED(T, smem);
  using Tl = Tile<R>;
  const int Dh = int(d.Dh), Dv = int(d.Dv);
  const DkvSmem L(R, Dh, Dv);
  T *sk = smem + L.k, *sv = smem + L.v, *sdk = smem + L.dk, *sdv = smem + L.dv, *sq = smem + L.q;
  T *sg = smem + L.g, *sp = smem + L.p, *sds = smem + L.ds, *slse = smem + L.lse, *srd = smem + L.rd;
  const int ty = int(threadIdx.x) / Tl::kSide, tx = int(threadIdx.x) % Tl::kSide;
  const int row = int(threadIdx.x) / Tl::kPerRow, lane = int(threadIdx.x) % Tl::kPerRow;
  const int64_t tiles = (d.T + R - 1) / R, G = d.H / d.Hkv;
  for (int64_t w = blockIdx.x; w < d.B * d.Hkv * tiles; w += gridDim.x) {
    const int64_t j0 = (w % tiles) * R, kh = (w / tiles) % d.Hkv, b = w / (tiles * d.Hkv);
    const int cols = d.T - j0 < R ? d.T - j0 : R;
    const int64_t i_last = window > 0 && j0 + cols - 1 + window - 1 < d.T - 1 ? j0 + cols - 1 + window - 1 : d.T - 1;
    __syncthreads();
    load_tile<R>(sk, L.ldk, k + d.k_row(b, j0, kh), d.Hkv * Dh, cols, Dh);
    load_tile<R>(sv, L.ldv, v + d.v_row(b, j0, kh), d.Hkv * Dv, cols, Dv);
    for (int e = int(threadIdx.x); e < R * Dh; e += Tl::kThreads) sdk[e] = T(0);
    for (int e = int(threadIdx.x); e < R * Dv; e += Tl::kThreads) sdv[e] = T(0);
    for (int64_t hh = 0; hh < G; ++hh) {
      const int64_t h = kh * G + hh;
      for (int64_t it = j0 / R; it <= i_last / R; ++it) {
        const int64_t i0 = it * R, rows = d.T - i0 < R ? d.T - i0 : R;
        __syncthreads();
        load_tile<R>(sq, L.ldk, q + d.q_row(b, i0, h), d.H * Dh, rows, Dh);
        load_tile<R>(sg, L.ldv, g + d.o_row(b, i0, h), d.H * Dv, rows, Dv);
        if (lane == 0) {
          slse[row] = row < rows ? lse[d.lse_at(b, h, i0 + row)] : T(0);
          srd[row] = row < rows ? rowdot[d.lse_at(b, h, i0 + row)] : T(0);
        }
        __syncthreads();
        T p[4][4], ds[4][4];
        probabilities<R>(ty, tx, sq, L.ldk, sk, sg, L.ldv, sv, slse, srd, i0, j0, d, scale, window, p, ds);
        MOE_UNROLL
        for (int a = 0; a < 4; ++a) {
          MOE_UNROLL
          for (int c = 0; c < 4; ++c) {
            const int64_t at = (ty + a * Tl::kSide) * (R + 1) + tx + c * Tl::kSide;
            sp[at] = p[a][c];
            sds[at] = ds[a][c];
          }
        }
        __syncthreads();
        // Rows of these products are keys u, columns head dims; the sum runs over the query rows r.
        chunked_product<R, T>(
            ty, tx, Dv, [&](int u, int r) { return sp[r * (R + 1) + u]; },
            [&](int col, int r) { return sg[r * L.ldv + col]; }, [&](int u, int col, T v) { sdv[u * Dv + col] += v; });
        chunked_product<R, T>(
            ty, tx, Dh, [&](int u, int r) { return sds[r * (R + 1) + u]; },
            [&](int col, int r) { return sq[r * L.ldk + col]; }, [&](int u, int col, T v) { sdk[u * Dh + col] += v; });
      }
    }
    each_owned<R>(ty, tx, Dh, [&](int u, int col) {
      if (u < cols) dk[d.k_row(b, j0 + u, kh) + col] = sdk[u * Dh + col];
    });
    each_owned<R>(ty, tx, Dv, [&](int u, int col) {
      if (u < cols) dv[d.v_row(b, j0 + u, kh) + col] = sdv[u * Dv + col];
    });
  }
}

struct MaxSmem {
  int ldk, q, k, red, total;
  MOE_HD MaxSmem(int R, int Dh, int /*Dv*/) : ldk(Dh + 1) {
    q = 0, k = q + R * ldk, red = k + R * ldk, total = red + (R / 4) * (R / 4);
  }
};

// One (b, h, query tile) per block: the largest scaled logit q_i . k_j over
// the tile's causal windows (NaNs skipped) into tile_max[b, h, tile].
template <typename T, int R>
__global__ void __launch_bounds__(Tile<R>::kThreads, 1)
    attention_max_logits_kernel(const T* __restrict__ q, const T* __restrict__ k, T scale, int64_t window, Dims d,
                                T* __restrict__ tile_max) {
  MOE_DYNAMIC_SHARED(T, smem);
  using Tl = Tile<R>;
  const int Dh = int(d.Dh);
  const MaxSmem L(R, Dh, 0);
  T *sq = smem + L.q, *sk = smem + L.k, *sred = smem + L.red;
  const int ty = int(threadIdx.x) / Tl::kSide, tx = int(threadIdx.x) % Tl::kSide;
  const int64_t tiles = (d.T + R - 1) / R;
  for (int64_t w = blockIdx.x; w < d.B * d.H * tiles; w += gridDim.x) {
    const int64_t i0 = (w % tiles) * R, h = (w / tiles) % d.H, b = w / (tiles * d.H);
    const int64_t rows = d.T - i0 < R ? d.T - i0 : R, kh = nn_math::gqa_kv_head(h, d.H, d.Hkv);
    __syncthreads();
    load_tile<R>(sq, L.ldk, q + d.q_row(b, i0, h), d.H * Dh, rows, Dh);
    T m = T(-INFINITY);
    const int64_t j_first = nn_math::attn_key_begin(i0, window) / R, j_last = (i0 + rows - 1) / R;
    for (int64_t jt = j_first; jt <= j_last; ++jt) {
      const int64_t j0 = jt * R, cols = d.T - j0 < R ? d.T - j0 : R;
      __syncthreads();
      load_tile<R>(sk, L.ldk, k + d.k_row(b, j0, kh), d.Hkv * Dh, cols, Dh);
      __syncthreads();
      T acc[4][4];
      micro_product<R>(
          ty, tx, Dh, [&](int r, int e) { return sq[r * L.ldk + e]; }, [&](int u, int e) { return sk[u * L.ldk + e]; },
          acc);
      MOE_UNROLL
      for (int a = 0; a < 4; ++a) {
        MOE_UNROLL
        for (int c = 0; c < 4; ++c)
          if (sees(i0 + ty + a * Tl::kSide, j0 + tx + c * Tl::kSide, d.T, window))
            m = MaxSkipNanOp()(m, scale * acc[a][c]);
      }
    }
    m = block_reduce(m, MaxSkipNanOp(), sred);
    if (threadIdx.x == 0) tile_max[w] = m;
  }
}

// Dynamic shared memory beyond the default 48 KiB needs the kernel's opt-in.
template <typename K>
void allow_shared(K* kernel, size_t bytes) {
  if (bytes > 48 * 1024)
    MOE_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
}

// The tile side R of one kernel: the largest whose shared memory leaves room
// for two blocks per SM, else the largest that fits one.
template <typename Smem>
int pick_tile(const char* op, const Dims& d, size_t elem) {
  const size_t limit = max_shared_per_block();
  for (size_t room : {limit / 2, limit})
    for (int R : {64, 32, 16})
      if (size_t(Smem(R, d.Dh, d.Dv).total) * elem <= room) return R;
  throw Error(std::string(op) + ": head dims Dh " + std::to_string(d.Dh) + ", Dv " + std::to_string(d.Dv) +
              " need " + std::to_string(size_t(Smem(16, d.Dh, d.Dv).total) * elem) +
              " bytes of shared memory per block even in 16 x 16 tiles; this GPU has " + std::to_string(limit));
}

// Launches kernel<T, R> over `work` tiles of R rows for the R picked for Smem.
template <typename Smem, typename Launch>
void launch_tiled(const char* op, const Dims& d, size_t elem, const Launch& launch) {
  const int R = pick_tile<Smem>(op, d, elem);
  const size_t bytes = size_t(Smem(R, d.Dh, d.Dv).total) * elem;
  if (R == 64) launch(std::integral_constant<int, 64>(), bytes);
  else if (R == 32) launch(std::integral_constant<int, 32>(), bytes);
  else launch(std::integral_constant<int, 16>(), bytes);
}

unsigned tile_grid(int64_t heads, int64_t T, int R) { return row_grid(heads * ((T + R - 1) / R)); }

}  // namespace

AttentionTiles attention_tiles(DType dtype, int64_t Dh, int64_t Dv) {
  const Dims d{1, 1, 1, 1, Dh, Dv};
  const size_t elem = dtype_size(dtype);
  return {pick_tile<FwdSmem>("attention", d, elem), pick_tile<DqSmem>("attention", d, elem),
          pick_tile<DkvSmem>("attention", d, elem)};
}

void attention_fwd(const Tensor& q, const Tensor& k, const Tensor& v, double scale, int64_t window,
                   const Tensor& out, const Tensor& lse) {
  const Dims d = dims(q, k, v);
  if (d.B * d.H * d.T == 0) return;
  DeviceGuard on(q);
  dtype_switch_float(q.dtype(), "scaled_dot_product_attention", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_tiled<FwdSmem>("scaled_dot_product_attention", d, sizeof(T), [&](auto r, size_t bytes) {
      constexpr int R = decltype(r)::value;
      auto* kern = &attention_fwd_kernel<T, R>;
      allow_shared(kern, bytes);
      MOE_LAUNCH(kern, tile_grid(d.B * d.H, d.T, R), Tile<R>::kThreads, bytes, current_stream())(
          q.device_data<T>(), k.device_data<T>(), v.device_data<T>(), T(scale), window, d, out.device_data<T>(),
          lse.device_data<T>());
    });
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
    const char* op = "scaled_dot_product_attention backward";
    launch_tiled<DqSmem>(op, d, sizeof(T), [&](auto r, size_t bytes) {
      constexpr int R = decltype(r)::value;
      auto* kern = &attention_dq_kernel<T, R>;
      allow_shared(kern, bytes);
      MOE_LAUNCH(kern, tile_grid(d.B * d.H, d.T, R), Tile<R>::kThreads, bytes, current_stream())(
          g.device_data<T>(), q.device_data<T>(), k.device_data<T>(), v.device_data<T>(), out.device_data<T>(),
          lse.device_data<T>(), T(scale), window, d, dq.device_data<T>(), rowdot.device_data<T>());
    });
    launch_tiled<DkvSmem>(op, d, sizeof(T), [&](auto r, size_t bytes) {
      constexpr int R = decltype(r)::value;
      auto* kern = &attention_dkv_kernel<T, R>;
      allow_shared(kern, bytes);
      MOE_LAUNCH(kern, tile_grid(d.B * d.Hkv, d.T, R), Tile<R>::kThreads, bytes, current_stream())(
          g.device_data<T>(), q.device_data<T>(), k.device_data<T>(), v.device_data<T>(), lse.device_data<T>(),
          rowdot.device_data<T>(), T(scale), window, d, dk.device_data<T>(), dv.device_data<T>());
    });
  });
  MOE_CUDA_CHECK(cudaGetLastError());
}

void attention_max_logits(const Tensor& q, const Tensor& k, double scale, int64_t window, const Tensor& out) {
  const Dims d = dims(q, k, k);
  if (d.B * d.H == 0) return;
  DeviceGuard on(q);
  dtype_switch_float(q.dtype(), "attention_max_logits", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_tiled<MaxSmem>("attention_max_logits", d, sizeof(T), [&](auto r, size_t bytes) {
      constexpr int R = decltype(r)::value;
      const int64_t tiles = (d.T + R - 1) / R;
      const Tensor tile_max = empty({d.B * d.H, tiles}, q.dtype(), q.device());
      auto* kern = &attention_max_logits_kernel<T, R>;
      allow_shared(kern, bytes);
      MOE_LAUNCH(kern, tile_grid(d.B * d.H, d.T, R), Tile<R>::kThreads, bytes, current_stream())(
          q.device_data<T>(), k.device_data<T>(), T(scale), window, d, tile_max.device_data<T>());
      MOE_CUDA_CHECK(cudaGetLastError());
      cuda::reduce_rows(backend::RowReduce::max, tile_max, d.B * d.H, tiles, out);
    });
  });
}

}  // namespace moe::cuda
