// Causal attention on the CPU, one (batch, head) pair per task, as small
// single-threaded GEMMs on strided head views (no copies):
//   forward   S = scale Q K^T, P = softmax(S) over the causal window, O = P V
//   backward  P recomputed from Q, K and the saved log-sum-exp;
//             dV = P^T dO, dP = dO V^T, dS = P (dP - rowsum(dO O)) scale,
//             dQ = dS K, dK = dS^T Q.
// Work is split over (b, h) only and every GEMM has a fixed shape, so results
// do not depend on the thread count; GQA's dK/dV are summed over the query
// heads of each kv head in head order.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/kernels/fast_exp.h"
#include "core/cpu/gemm.h"
#include "core/cpu/nn.h"
#include "core/dispatch.h"
#include "core/kernels/nn_math.h"
#include "core/parallel.h"

namespace moe::cpu {

namespace {

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
};
Dims dims(const Tensor& q, const Tensor& k, const Tensor& v) {
  return {q.shape()[0], q.shape()[1], q.shape()[2], k.shape()[2], q.shape()[3], v.shape()[3]};
}


// Rows of s [T, T] (already scaled) become softmax probabilities over the
// causal window [attn_key_begin(i), i]; entries outside are set to 0. With
// lse_in the saved log-sum-exp is used (backward), otherwise it is computed
// into lse_out.
template <typename T>
void softmax_rows(T* s, int64_t n, int64_t window, const T* lse_in, T* lse_out) {
  for (int64_t i = 0; i < n; ++i) {
    T* row = s + i * n;
    const int64_t lo = nn_math::attn_key_begin(i, window);
    T lse;
    if (lse_in) {
      lse = lse_in[i];
    } else {
      T m = -std::numeric_limits<T>::infinity();
      for (int64_t j = lo; j <= i; ++j) m = std::max(m, row[j]);
      T sum = 0;
      for (int64_t j = lo; j <= i; ++j) sum += math::exp_t(row[j] - m);
      lse = m + std::log(sum);
      lse_out[i] = lse;
    }
    for (int64_t j = 0; j < lo; ++j) row[j] = 0;
    for (int64_t j = lo; j <= i; ++j) row[j] = math::exp_t(row[j] - lse);
    for (int64_t j = i + 1; j < n; ++j) row[j] = 0;
  }
}

// s [T, T] = scale * Q_h K_kh^T for task (b, h): the scores every pass starts from.
template <typename T>
void scaled_scores(const Dims& d, const T* pq, const T* pk, int64_t b, int64_t h, double scale, T* s) {
  const int64_t kh = nn_math::gqa_kv_head(h, d.H, d.Hkv);
  gemm_call(false, true, d.T, d.T, d.Dh, T(scale), pq + d.q_off(b, h), d.q_ld(), pk + d.k_off(b, kh), d.k_ld(),
            T(0), s, d.T);
}

}  // namespace

void attention_fwd(const Tensor& q, const Tensor& k, const Tensor& v, double scale, int64_t window,
                   const Tensor& out, const Tensor& lse) {
  blas_single_thread();
  const Dims d = dims(q, k, v);
  dispatch_float(q.dtype(), "scaled_dot_product_attention", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *pq = q.data<T>(), *pk = k.data<T>(), *pv = v.data<T>();
    T* po = out.data<T>();
    T* pl = lse.data<T>();
    parallel_for(d.B * d.H, 1, [&](int64_t tb, int64_t te) {
      std::vector<T> s(static_cast<size_t>(d.T * d.T));
      for (int64_t task = tb; task < te; ++task) {
        const int64_t b = task / d.H, h = task % d.H, kh = nn_math::gqa_kv_head(h, d.H, d.Hkv);
        scaled_scores(d, pq, pk, b, h, scale, s.data());
        softmax_rows<T>(s.data(), d.T, window, nullptr, pl + task * d.T);
        gemm_call(false, false, d.T, d.Dv, d.T, T(1), s.data(), d.T, pv + d.v_off(b, kh), d.v_ld(), T(0),
                  po + d.o_off(b, h), d.o_ld());
      }
    });
  });
}

void attention_bwd(const Tensor& g, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                   const Tensor& lse, double scale, int64_t window, const Tensor& dq, const Tensor& dk,
                   const Tensor& dv) {
  blas_single_thread();
  const Dims d = dims(q, k, v);
  const int64_t G = d.H / d.Hkv;
  dispatch_float(q.dtype(), "scaled_dot_product_attention backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *pg = g.data<T>(), *pq = q.data<T>(), *pk = k.data<T>(), *pv = v.data<T>(), *po = out.data<T>();
    const T* pl = lse.data<T>();
    T *pdq = dq.data<T>(), *pdk = dk.data<T>(), *pdv = dv.data<T>();
    // Per query head dK, dV [B, H, T, D]; summed per kv head below.
    std::vector<T> dk_part(size_t(d.B * d.H * d.T * d.Dh)), dv_part(size_t(d.B * d.H * d.T * d.Dv));
    parallel_for(d.B * d.H, 1, [&](int64_t tb, int64_t te) {
      std::vector<T> p(static_cast<size_t>(d.T * d.T)), dp(static_cast<size_t>(d.T * d.T)),
          rowdot(static_cast<size_t>(d.T));
      for (int64_t task = tb; task < te; ++task) {
        const int64_t b = task / d.H, h = task % d.H, kh = nn_math::gqa_kv_head(h, d.H, d.Hkv);
        const T *qh = pq + d.q_off(b, h), *kh_ = pk + d.k_off(b, kh), *vh = pv + d.v_off(b, kh);
        const T *gh = pg + d.o_off(b, h), *oh = po + d.o_off(b, h);
        scaled_scores(d, pq, pk, b, h, scale, p.data());
        softmax_rows<T>(p.data(), d.T, window, pl + task * d.T, nullptr);
        // dV_h = P^T dO_h
        gemm_call(true, false, d.T, d.Dv, d.T, T(1), p.data(), d.T, gh, d.o_ld(), T(0),
                  dv_part.data() + task * d.T * d.Dv, d.Dv);
        // dP = dO_h V_h^T; dS = P (dP - D) scale with D_i = dO_i . O_i
        gemm_call(false, true, d.T, d.T, d.Dv, T(1), gh, d.o_ld(), vh, d.v_ld(), T(0), dp.data(), d.T);
        for (int64_t i = 0; i < d.T; ++i) {
          T acc = 0;
          for (int64_t c = 0; c < d.Dv; ++c) acc += gh[i * d.o_ld() + c] * oh[i * d.o_ld() + c];
          rowdot[size_t(i)] = acc;
        }
        for (int64_t i = 0; i < d.T; ++i)
          for (int64_t j = 0; j < d.T; ++j)
            dp[size_t(i * d.T + j)] = p[size_t(i * d.T + j)] * (dp[size_t(i * d.T + j)] - rowdot[size_t(i)]) * T(scale);
        // dQ_h = dS K_h (straight into dq), dK_h = dS^T Q_h
        gemm_call(false, false, d.T, d.Dh, d.T, T(1), dp.data(), d.T, kh_, d.k_ld(), T(0), pdq + d.q_off(b, h),
                  d.q_ld());
        gemm_call(true, false, d.T, d.Dh, d.T, T(1), dp.data(), d.T, qh, d.q_ld(), T(0),
                  dk_part.data() + task * d.T * d.Dh, d.Dh);
      }
    });
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
  blas_single_thread();
  const Dims d = dims(q, k, k);
  dispatch_float(q.dtype(), "attention_max_logits", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *pq = q.data<T>(), *pk = k.data<T>();
    T* po = out.data<T>();
    parallel_for(d.B * d.H, 1, [&](int64_t tb, int64_t te) {
      std::vector<T> s(static_cast<size_t>(d.T * d.T));
      for (int64_t task = tb; task < te; ++task) {
        scaled_scores(d, pq, pk, task / d.H, task % d.H, scale, s.data());
        T m = -std::numeric_limits<T>::infinity();
        for (int64_t i = 0; i < d.T; ++i)
          for (int64_t j = nn_math::attn_key_begin(i, window); j <= i; ++j) m = std::max(m, s[size_t(i * d.T + j)]);
        po[task] = m;
      }
    });
  });
}

}  // namespace moe::cpu
