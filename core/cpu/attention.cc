// Causal attention on the CPU, one (batch, head) pair per task, with our own
// register-blocked products that skip the masked half of every T x T matrix:
//   forward   S = scale Q K^T, P = softmax(S) over the causal window, O = P V
//   backward  P recomputed from Q, K and the saved log-sum-exp;
//             dV = P^T dO, dP = dO V^T, dS = P (dP - rowsum(dO O)) scale,
//             dQ = dS K, dK = dS^T Q.
// Rows go kRows at a time; a row block only touches the key columns its
// causal windows reach, rounded out to whole kLanes chunks (the extra entries
// are masked to 0). Per head at T = 64 this does about 60% of the FLOPs of
// full T x T products (half, plus that rounding) and no per-call BLAS work.
// Work is split over (b, h) only and every sum runs in a fixed order, so
// results do not depend on the thread count; GQA's dK/dV are summed over the
// query heads of each kv head in head order.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/cpu/lane_sum.h"
#include "core/cpu/nn.h"
#include "core/dtype_switch.h"
#include "core/kernels/fast_exp.h"
#include "core/kernels/nn_math.h"
#include "core/threading.h"

namespace moe::cpu {

namespace {

constexpr int kRows = 6;    // rows of one register block
constexpr int kLanes = 16;  // columns of one register block (one AVX-512 f32 vector)

int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }
int64_t round_down(int64_t n, int64_t m) { return n / m * m; }

struct Dims {
  int64_t B, T, H, Hkv, Dh, Dv;
  int64_t q_ld() const { return H * Dh; }  // row stride of one head's [T, Dh] view of q
  int64_t o_ld() const { return H * Dv; }
  int64_t k_ld() const { return Hkv * Dh; }
  int64_t v_ld() const { return Hkv * Dv; }
  int64_t q_off(int64_t b, int64_t h) const { return b * T * H * Dh + h * Dh; }
  int64_t o_off(int64_t b, int64_t h) const { return b * T * H * Dv + h * Dv; }
  int64_t k_off(int64_t b, int64_t h) const { return b * T * Hkv * Dh + h * Dh; }
  int64_t v_off(int64_t b, int64_t h) const { return b * T * Hkv * Dv + h * Dv; }
  int64_t Tp() const { return round_up(T, kLanes); }  // padded key count
};
Dims dims(const Tensor& q, const Tensor& k, const Tensor& v) {
  return {q.shape()[0], q.shape()[1], q.shape()[2], k.shape()[2], q.shape()[3], v.shape()[3]};
}

// kLanes values of T as one GCC/Clang vector: one AVX-512 register for f32
// on this machine, two AVX2 ones elsewhere (the compiler splits it). Plain
// loops over an accumulator array vectorised across the wrong axis here.
template <typename T>
struct LaneVec {
  typedef T type __attribute__((vector_size(kLanes * sizeof(T))));
};

// c[r][n] = alpha * sum_{k in [k0, k1)} a(r, k) * b[k][n] for r < rows <= kRows
// and n in [n0, n1), n1 - n0 a multiple of kLanes; a(r, k) = a[r*a_row + k*a_col].
// b rows must be readable up to column n1; c is written only below n_store
// (so a padded panel can feed an unpadded output row).
template <typename T>
void rows_times_panel(const T* a, int64_t a_row, int64_t a_col, int64_t rows, int64_t k0, int64_t k1, const T* b,
                      int64_t ldb, int64_t n0, int64_t n1, T alpha, T* c, int64_t ldc, int64_t n_store) {
  using V = typename LaneVec<T>::type;
  const T* ar[kRows];
  for (int r = 0; r < kRows; ++r) ar[r] = a + std::min<int64_t>(r, rows - 1) * a_row;  // spare rows repeat the last
  for (int64_t n = n0; n < n1; n += kLanes) {
    V acc[kRows];
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) acc[r] = V{};
    for (int64_t k = k0; k < k1; ++k) {
      V bv;
      std::memcpy(&bv, b + k * ldb + n, sizeof bv);
#pragma GCC unroll 8
      for (int r = 0; r < kRows; ++r) acc[r] += ar[r][k * a_col] * bv;
    }
    const int64_t width = std::min<int64_t>(kLanes, n_store - n);
    for (int64_t r = 0; r < rows; ++r) {
      const V out = alpha * acc[r];
      if (width == kLanes) {
        std::memcpy(c + r * ldc + n, &out, sizeof out);
      } else {
        for (int64_t l = 0; l < width; ++l) c[r * ldc + n + l] = out[l];
      }
    }
  }
}

// dst [cols][ld] = src [rows][cols]^T (row stride src_ld), zero-padded to ld columns.
template <typename T>
void transpose_into(const T* src, int64_t src_ld, int64_t rows, int64_t cols, T* dst, int64_t ld) {
  for (int64_t c = 0; c < cols; ++c) {
    T* d = dst + c * ld;
    for (int64_t r = 0; r < rows; ++r) d[r] = src[r * src_ld + c];
    for (int64_t r = rows; r < ld; ++r) d[r] = T(0);
  }
}

// The rows of src [rows][cols] readable as kLanes-wide chunks: src itself when
// cols is a multiple of kLanes, else a zero-padded copy in buf. Returns the
// pointer and sets ld.
template <typename T>
const T* lane_padded(const T* src, int64_t src_ld, int64_t rows, int64_t cols, std::vector<T>& buf, int64_t& ld) {
  if (cols % kLanes == 0) {
    ld = src_ld;
    return src;
  }
  ld = round_up(cols, kLanes);
  buf.assign(size_t(rows * ld), T(0));
  for (int64_t r = 0; r < rows; ++r) std::memcpy(buf.data() + r * ld, src + r * src_ld, size_t(cols) * sizeof(T));
  return buf.data();
}

// Key chunk range [jlo, jhi) that the query rows [i0, i0 + rows) reach.
struct KeyRange {
  int64_t jlo, jhi;
};
KeyRange key_range(int64_t i0, int64_t rows, int64_t window) {
  return {round_down(nn_math::attn_key_begin(i0, window), kLanes), round_up(i0 + rows, kLanes)};
}

// s rows [i0, i0 + rows) of scale Q K^T over the key chunks of key_range,
// from kt = K^T [Dh][Tp]; s has row stride ld_s.
template <typename T>
void score_rows(const Dims& d, const T* qh, const T* kt, int64_t i0, int64_t rows, int64_t window, double scale,
                T* s, int64_t ld_s) {
  const KeyRange kr = key_range(i0, rows, window);
  rows_times_panel<T>(qh + i0 * d.q_ld(), d.q_ld(), 1, rows, 0, d.Dh, kt, d.Tp(), kr.jlo, kr.jhi, T(scale), s, ld_s,
                      kr.jhi);
}

// Largest of w[0, n): lane-wise over kLanes partial maxima so it vectorises
// (a running scalar max is one long dependency chain). NaNs are skipped, as
// by std::max.
template <typename T>
T row_max(const T* w, int64_t n) {
  T lanes[kLanes];
  std::fill(lanes, lanes + kLanes, -std::numeric_limits<T>::infinity());
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) lanes[l] = std::max(lanes[l], w[j + l]);
  for (int l = 0; j < n; ++j, ++l) lanes[l] = std::max(lanes[l], w[j]);
  T m = lanes[0];
  for (int l = 1; l < kLanes; ++l) m = std::max(m, lanes[l]);
  return m;
}

// Row i of scores s (length Tp, valid on the chunks kr) becomes probabilities
// over its window [attn_key_begin(i), i] and 0 everywhere else. Forward
// computes the log-sum-exp into *lse_out and normalises exp(s - max) by its
// sum; backward recomputes exp(s - lse) from the saved *lse_in. exp runs over
// whole chunks (the masked entries hold finite scores and are zeroed after),
// and the sum is LaneSum's, so every loop vectorises.
template <typename T>
void softmax_row(T* row, int64_t i, int64_t Tp, int64_t window, KeyRange kr, const T* lse_in, T* lse_out) {
  const int64_t lo = nn_math::attn_key_begin(i, window);
  const T shift = lse_in ? *lse_in : row_max(row + lo, i + 1 - lo);
  for (int64_t j = kr.jlo; j < kr.jhi; ++j) row[j] = math::exp_t(row[j] - shift);
  if (!lse_in) {
    LaneSum sum;
    sum.add(row + lo, i + 1 - lo);
    const double total = sum.total();
    *lse_out = T(double(shift) + std::log(total));
    const T inv = T(1.0 / total);
    for (int64_t j = lo; j <= i; ++j) row[j] *= inv;
  }
  std::fill(row, row + lo, T(0));
  std::fill(row + i + 1, row + Tp, T(0));
}

}  // namespace

void attention_fwd(const Tensor& q, const Tensor& k, const Tensor& v, double scale, int64_t window,
                   const Tensor& out, const Tensor& lse) {
  const Dims d = dims(q, k, v);
  const int64_t Tp = d.Tp();
  dtype_switch_float(q.dtype(), "scaled_dot_product_attention", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *pq = q.data<T>(), *pk = k.data<T>(), *pv = v.data<T>();
    T* po = out.data<T>();
    T* pl = lse.data<T>();
    parallel_for(d.B * d.H, 1, [&](int64_t tb, int64_t te) {
      std::vector<T> kt(size_t(d.Dh * Tp)), p(size_t(kRows * Tp)), vbuf;
      for (int64_t task = tb; task < te; ++task) {
        const int64_t b = task / d.H, h = task % d.H, kh = nn_math::gqa_kv_head(h, d.H, d.Hkv);
        const T* qh = pq + d.q_off(b, h);
        T* oh = po + d.o_off(b, h);
        transpose_into(pk + d.k_off(b, kh), d.k_ld(), d.T, d.Dh, kt.data(), Tp);
        int64_t ldv = 0;
        const T* vh = lane_padded(pv + d.v_off(b, kh), d.v_ld(), d.T, d.Dv, vbuf, ldv);
        for (int64_t i0 = 0; i0 < d.T; i0 += kRows) {
          const int64_t rows = std::min<int64_t>(kRows, d.T - i0);
          const KeyRange kr = key_range(i0, rows, window);
          score_rows(d, qh, kt.data(), i0, rows, window, scale, p.data(), Tp);
          for (int64_t r = 0; r < rows; ++r)
            softmax_row<T>(p.data() + r * Tp, i0 + r, Tp, window, kr, nullptr, pl + task * d.T + i0 + r);
          // O rows = P V over the keys the block reaches.
          rows_times_panel<T>(p.data(), Tp, 1, rows, nn_math::attn_key_begin(i0, window), i0 + rows, vh, ldv, 0,
                              round_up(d.Dv, kLanes), T(1), oh + i0 * d.o_ld(), d.o_ld(), d.Dv);
        }
      }
    });
  });
}

void attention_bwd(const Tensor& g, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                   const Tensor& lse, double scale, int64_t window, const Tensor& dq, const Tensor& dk,
                   const Tensor& dv) {
  const Dims d = dims(q, k, v);
  const int64_t G = d.H / d.Hkv, Tp = d.Tp();
  dtype_switch_float(q.dtype(), "scaled_dot_product_attention backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *pg = g.data<T>(), *pq = q.data<T>(), *pk = k.data<T>(), *pv = v.data<T>(), *po = out.data<T>();
    const T* pl = lse.data<T>();
    T *pdq = dq.data<T>(), *pdk = dk.data<T>(), *pdv = dv.data<T>();
    // With G > 1, per query head dK, dV [B, H, T, D], summed per kv head
    // below; with G == 1 each head writes dk and dv directly.
    std::vector<T> dk_part(G > 1 ? size_t(d.B * d.H * d.T * d.Dh) : 0),
        dv_part(G > 1 ? size_t(d.B * d.H * d.T * d.Dv) : 0);
    parallel_for(d.B * d.H, 1, [&](int64_t tb, int64_t te) {
      std::vector<T> kt(size_t(d.Dh * Tp)), vt(size_t(d.Dv * Tp)), p(size_t(d.T * Tp)), ds(size_t(d.T * Tp)),
          rowdot(size_t(d.T)), kbuf, qbuf, gbuf;
      for (int64_t task = tb; task < te; ++task) {
        const int64_t b = task / d.H, h = task % d.H, kh = nn_math::gqa_kv_head(h, d.H, d.Hkv);
        const T *qh = pq + d.q_off(b, h), *kh_ = pk + d.k_off(b, kh), *vh = pv + d.v_off(b, kh);
        const T *gh = pg + d.o_off(b, h), *oh = po + d.o_off(b, h);
        transpose_into(kh_, d.k_ld(), d.T, d.Dh, kt.data(), Tp);
        transpose_into(vh, d.v_ld(), d.T, d.Dv, vt.data(), Tp);
        int64_t ldk = 0, ldq = 0, ldg = 0;
        const T* kp = lane_padded(kh_, d.k_ld(), d.T, d.Dh, kbuf, ldk);
        const T* qp = lane_padded(qh, d.q_ld(), d.T, d.Dh, qbuf, ldq);
        const T* gp = lane_padded(gh, d.o_ld(), d.T, d.Dv, gbuf, ldg);
        for (int64_t i = 0; i < d.T; ++i) {
          LaneSum dot;
          dot.add_products(gh + i * d.o_ld(), oh + i * d.o_ld(), d.Dv);
          rowdot[size_t(i)] = T(dot.total());
        }
        // Row blocks: P, then dS = P (dO V^T - D) scale, then dQ = dS K.
        for (int64_t i0 = 0; i0 < d.T; i0 += kRows) {
          const int64_t rows = std::min<int64_t>(kRows, d.T - i0);
          const KeyRange kr = key_range(i0, rows, window);
          T *prow = p.data() + i0 * Tp, *dsrow = ds.data() + i0 * Tp;
          score_rows(d, qh, kt.data(), i0, rows, window, scale, prow, Tp);
          for (int64_t r = 0; r < rows; ++r)
            softmax_row<T>(prow + r * Tp, i0 + r, Tp, window, kr, pl + task * d.T + i0 + r, nullptr);
          rows_times_panel<T>(gh + i0 * d.o_ld(), d.o_ld(), 1, rows, 0, d.Dv, vt.data(), Tp, kr.jlo, kr.jhi, T(1),
                              dsrow, Tp, kr.jhi);
          for (int64_t r = 0; r < rows; ++r) {
            const int64_t i = i0 + r, lo = nn_math::attn_key_begin(i, window);
            T *dsi = dsrow + r * Tp, *pi = prow + r * Tp;
            const T di = rowdot[size_t(i)];
            std::fill(dsi, dsi + lo, T(0));
            for (int64_t j = lo; j <= i; ++j) dsi[j] = pi[j] * (dsi[j] - di) * T(scale);
            std::fill(dsi + i + 1, dsi + Tp, T(0));
          }
          rows_times_panel<T>(dsrow, Tp, 1, rows, nn_math::attn_key_begin(i0, window), i0 + rows, kp, ldk, 0,
                              round_up(d.Dh, kLanes), T(1), pdq + d.q_off(b, h) + i0 * d.q_ld(), d.q_ld(), d.Dh);
        }
        // Key blocks: dK = dS^T Q and dV = P^T dO over the queries whose
        // windows hold the block's keys.
        T* dkh = G > 1 ? dk_part.data() + task * d.T * d.Dh : pdk + d.k_off(b, kh);
        T* dvh = G > 1 ? dv_part.data() + task * d.T * d.Dv : pdv + d.v_off(b, kh);
        const int64_t ld_dk = G > 1 ? d.Dh : d.k_ld(), ld_dv = G > 1 ? d.Dv : d.v_ld();
        for (int64_t j0 = 0; j0 < d.T; j0 += kRows) {
          const int64_t rows = std::min<int64_t>(kRows, d.T - j0);
          const int64_t i_end = window > 0 ? std::min(d.T, j0 + rows - 1 + window) : d.T;
          rows_times_panel<T>(ds.data() + j0, 1, Tp, rows, j0, i_end, qp, ldq, 0, round_up(d.Dh, kLanes), T(1),
                              dkh + j0 * ld_dk, ld_dk, d.Dh);
          rows_times_panel<T>(p.data() + j0, 1, Tp, rows, j0, i_end, gp, ldg, 0, round_up(d.Dv, kLanes), T(1),
                              dvh + j0 * ld_dv, ld_dv, d.Dv);
        }
      }
    });
    if (G == 1) return;
    // dk[b, j, kh] = sum over the G query heads of kv head kh, in order.
    parallel_for(d.B * d.Hkv, 1, [&](int64_t s, int64_t e) {
      for (int64_t r = s; r < e; ++r) {
        const int64_t b = r / d.Hkv, kh = r % d.Hkv;
        for (int64_t j = 0; j < d.T; ++j) {
          T* dkj = pdk + d.k_off(b, kh) + j * d.k_ld();
          T* dvj = pdv + d.v_off(b, kh) + j * d.v_ld();
          for (int64_t c = 0; c < d.Dh; ++c) dkj[c] = 0;
          for (int64_t c = 0; c < d.Dv; ++c) dvj[c] = 0;
          for (int64_t gq = 0; gq < G; ++gq) {
            const int64_t task = b * d.H + kh * G + gq;
            const T* pk_ = dk_part.data() + (task * d.T + j) * d.Dh;
            const T* pv_ = dv_part.data() + (task * d.T + j) * d.Dv;
            for (int64_t c = 0; c < d.Dh; ++c) dkj[c] += pk_[c];
            for (int64_t c = 0; c < d.Dv; ++c) dvj[c] += pv_[c];
          }
        }
      }
    });
  });
}

void attention_max_logits(const Tensor& q, const Tensor& k, double scale, int64_t window, const Tensor& out) {
  const Dims d = dims(q, k, k);
  const int64_t Tp = d.Tp();
  dtype_switch_float(q.dtype(), "attention_max_logits", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *pq = q.data<T>(), *pk = k.data<T>();
    T* po = out.data<T>();
    parallel_for(d.B * d.H, 1, [&](int64_t tb, int64_t te) {
      std::vector<T> kt(size_t(d.Dh * Tp)), s(size_t(kRows * Tp));
      for (int64_t task = tb; task < te; ++task) {
        const int64_t b = task / d.H, h = task % d.H;
        transpose_into(pk + d.k_off(b, nn_math::gqa_kv_head(h, d.H, d.Hkv)), d.k_ld(), d.T, d.Dh, kt.data(), Tp);
        T m = -std::numeric_limits<T>::infinity();
        for (int64_t i0 = 0; i0 < d.T; i0 += kRows) {
          const int64_t rows = std::min<int64_t>(kRows, d.T - i0);
          score_rows(d, pq + d.q_off(b, h), kt.data(), i0, rows, window, scale, s.data(), Tp);
          for (int64_t r = 0; r < rows; ++r) {
            const int64_t lo = nn_math::attn_key_begin(i0 + r, window);
            m = std::max(m, row_max(s.data() + r * Tp + lo, i0 + r + 1 - lo));
          }
        }
        po[task] = m;
      }
    });
  });
}

}  // namespace moe::cpu
