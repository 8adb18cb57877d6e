#include "optim/qk_clip.h"

#include <cmath>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"

namespace moe::optim {

namespace {

void check_weight(const Tensor& w, const char* what) {
  MOE_CHECK(w.defined() && w.dim() == 2 && w.dtype() == DType::f32, "qk_clip: ", what,
            " must be a 2-D f32 tensor, got ", w.defined() ? w.str() : "undefined");
}

// Per-column factors of wq and wk (1 where nothing is clipped), applied as
// one f32 product per element on the weights' device: the same rounding as
// scaling the columns in place.
struct ColumnFactors {
  std::vector<double> q, k;
  void scale(std::vector<double>& f, int64_t c0, int64_t width, float factor) {
    for (int64_t c = c0; c < c0 + width; ++c) f[size_t(c)] = double(factor);
  }
};

void apply_factors(Tensor& w, const std::vector<double>& f) {
  const Tensor factors = from_vector(f, {1, int64_t(f.size())}, DType::f32, w.device());
  copy_(w, mul(w, factors));
}

// Calls clip(h, gamma_h, factors) for every head over the threshold; then
// applies the factors and marks both weights changed if any head was.
template <typename Clip>
void clip_heads(Tensor& wq, Tensor& wk, const std::vector<double>& max_logit_per_head, double threshold,
                Clip clip) {
  ColumnFactors f{std::vector<double>(size_t(wq.size(1)), 1.0), std::vector<double>(size_t(wk.size(1)), 1.0)};
  bool changed = false;
  for (size_t h = 0; h < max_logit_per_head.size(); ++h) {
    const double s_max = max_logit_per_head[h];
    if (!(s_max > threshold)) continue;  // also skips NaN
    clip(int64_t(h), threshold / s_max, f);
    changed = true;
  }
  if (changed) {
    NoGradGuard no_grad;
    apply_factors(wq, f.q);
    apply_factors(wk, f.k);
    wq.bump_version();
    wk.bump_version();
  }
}

void check_logits(const std::vector<double>& max_logit_per_head, int64_t n_heads) {
  MOE_CHECK(int64_t(max_logit_per_head.size()) == n_heads, "qk_clip: ", max_logit_per_head.size(),
            " max logits for ", n_heads, " heads");
}

}  // namespace

void qk_clip(Tensor& wq, Tensor& wk, int64_t n_heads, int64_t head_dim_q, int64_t head_dim_k,
             const std::vector<double>& max_logit_per_head, double threshold) {
  if (threshold <= 0) return;
  check_weight(wq, "wq");
  check_weight(wk, "wk");
  MOE_CHECK(n_heads >= 1 && head_dim_q >= 1 && head_dim_k >= 1, "qk_clip: bad head geometry: ", n_heads,
            " heads of ", head_dim_q, " (q) / ", head_dim_k, " (k) columns");
  MOE_CHECK(wq.size(1) == n_heads * head_dim_q, "qk_clip: wq ", wq.str(), " does not hold ", n_heads,
            " heads of ", head_dim_q, " columns");
  MOE_CHECK(wk.size(1) % head_dim_k == 0, "qk_clip: wk ", wk.str(), " is not a whole number of ", head_dim_k,
            "-column heads");
  const int64_t n_kv = wk.size(1) / head_dim_k;
  MOE_CHECK(n_kv >= 1 && n_heads % n_kv == 0, "qk_clip: ", n_heads, " query heads cannot share ", n_kv,
            " key heads");
  check_logits(max_logit_per_head, n_heads);
  const bool shared_keys = n_kv < n_heads;
  clip_heads(wq, wk, max_logit_per_head, threshold, [&](int64_t h, double gamma, ColumnFactors& f) {
    if (shared_keys) {
      f.scale(f.q, h * head_dim_q, head_dim_q, float(gamma));
    } else {
      const float root = float(std::sqrt(gamma));
      f.scale(f.q, h * head_dim_q, head_dim_q, root);
      f.scale(f.k, h * head_dim_k, head_dim_k, root);
    }
  });
}

void qk_clip_mla(Tensor& wq, Tensor& wkv_b, int64_t n_heads, const MlaHeadDims& dims,
                 const std::vector<double>& max_logit_per_head, double threshold) {
  if (threshold <= 0) return;
  check_weight(wq, "wq");
  check_weight(wkv_b, "wkv_b");
  MOE_CHECK(n_heads >= 1 && dims.nope >= 1 && dims.rope >= 1 && dims.v >= 1, "qk_clip_mla: bad head geometry: ",
            n_heads, " heads of nope ", dims.nope, ", rope ", dims.rope, ", v ", dims.v);
  const int64_t q_width = dims.nope + dims.rope, kv_width = dims.nope + dims.v;
  MOE_CHECK(wq.size(1) == n_heads * q_width, "qk_clip_mla: wq ", wq.str(), " does not hold ", n_heads,
            " heads of ", q_width, " (nope + rope) columns");
  MOE_CHECK(wkv_b.size(1) == n_heads * kv_width, "qk_clip_mla: wkv_b ", wkv_b.str(), " does not hold ", n_heads,
            " heads of ", kv_width, " (nope + v) columns");
  check_logits(max_logit_per_head, n_heads);
  clip_heads(wq, wkv_b, max_logit_per_head, threshold, [&](int64_t h, double gamma, ColumnFactors& f) {
    const float root = float(std::sqrt(gamma));
    f.scale(f.q, h * q_width, dims.nope, root);                    // q_C
    f.scale(f.q, h * q_width + dims.nope, dims.rope, float(gamma));  // q_R
    f.scale(f.k, h * kv_width, dims.nope, root);                   // k_C
  });
}

}  // namespace moe::optim
