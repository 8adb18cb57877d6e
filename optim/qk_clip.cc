#include "optim/qk_clip.h"

#include <cmath>

#include "core/error.h"

namespace moe::optim {

namespace {

void check_weight(const Tensor& w, const char* what) {
  MOE_CHECK(w.defined() && w.dim() == 2 && w.dtype() == DType::f32 && w.device().is_cpu() && w.is_contiguous(),
            "qk_clip: ", what, " must be a contiguous 2-D f32 CPU tensor, got ", w.defined() ? w.str() : "undefined");
}

// Multiplies the column block [c0, c0 + width) of the row-major matrix w.
void scale_columns(Tensor& w, int64_t c0, int64_t width, float factor) {
  const int64_t rows = w.size(0), cols = w.size(1);
  float* d = w.data<float>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = c0; c < c0 + width; ++c) d[r * cols + c] *= factor;
}

// Calls clip(h, gamma_h) for every head over the threshold; then marks both
// weights changed if any was.
template <typename Clip>
void clip_heads(Tensor& wq, Tensor& wk, const std::vector<double>& max_logit_per_head, double threshold,
                Clip clip) {
  bool changed = false;
  for (size_t h = 0; h < max_logit_per_head.size(); ++h) {
    const double s_max = max_logit_per_head[h];
    if (!(s_max > threshold)) continue;  // also skips NaN
    clip(int64_t(h), threshold / s_max);
    changed = true;
  }
  if (changed) {
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
  clip_heads(wq, wk, max_logit_per_head, threshold, [&](int64_t h, double gamma) {
    if (shared_keys) {
      scale_columns(wq, h * head_dim_q, head_dim_q, float(gamma));
    } else {
      const float root = float(std::sqrt(gamma));
      scale_columns(wq, h * head_dim_q, head_dim_q, root);
      scale_columns(wk, h * head_dim_k, head_dim_k, root);
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
  clip_heads(wq, wkv_b, max_logit_per_head, threshold, [&](int64_t h, double gamma) {
    const float root = float(std::sqrt(gamma));
    scale_columns(wq, h * q_width, dims.nope, root);                    // q_C
    scale_columns(wq, h * q_width + dims.nope, dims.rope, float(gamma));  // q_R
    scale_columns(wkv_b, h * kv_width, dims.nope, root);                // k_C
  });
}

}  // namespace moe::optim
