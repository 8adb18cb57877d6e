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
  MOE_CHECK(int64_t(max_logit_per_head.size()) == n_heads, "qk_clip: ", max_logit_per_head.size(),
            " max logits for ", n_heads, " heads");
  const bool shared_keys = n_kv < n_heads;
  bool changed = false;
  for (int64_t h = 0; h < n_heads; ++h) {
    const double s_max = max_logit_per_head[size_t(h)];
    if (!(s_max > threshold)) continue;  // also skips NaN
    const double gamma = threshold / s_max;
    if (shared_keys) {
      scale_columns(wq, h * head_dim_q, head_dim_q, float(gamma));
    } else {
      const float root = float(std::sqrt(gamma));
      scale_columns(wq, h * head_dim_q, head_dim_q, root);
      scale_columns(wk, h * head_dim_k, head_dim_k, root);
    }
    changed = true;
  }
  if (changed) {
    wq.bump_version();
    wk.bump_version();
  }
}

}  // namespace moe::optim
