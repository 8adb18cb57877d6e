// attention_max_logits against a brute-force loop, with GQA and a window.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/ops.h"

namespace moe {
namespace {

TEST(AttentionMaxLogits, MatchesBruteForce) {
  const int64_t B = 2, T = 5, H = 4, Hkv = 2, Dh = 3;
  for (int64_t window : {0, 2}) {
    const Tensor q = randn({B, T, H, Dh}, 1, 0, DType::f64), k = randn({B, T, Hkv, Dh}, 2, 0, DType::f64);
    const double scale = 0.7;
    const std::vector<double> got = attention_max_logits(q, k, scale, window).to_vector();
    const std::vector<double> qv = q.to_vector(), kv = k.to_vector();
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t h = 0; h < H; ++h) {
        double m = -std::numeric_limits<double>::infinity();
        for (int64_t i = 0; i < T; ++i) {
          for (int64_t j = 0; j <= i; ++j) {
            if (window > 0 && j <= i - window) continue;
            double dot = 0;
            for (int64_t c = 0; c < Dh; ++c)
              dot += qv[size_t(((b * T + i) * H + h) * Dh + c)] * kv[size_t(((b * T + j) * Hkv + h / 2) * Dh + c)];
            m = std::max(m, scale * dot);
          }
        }
        EXPECT_NEAR(got[size_t(b * H + h)], m, 1e-12) << "b " << b << " h " << h << " window " << window;
      }
    }
  }
}

}  // namespace
}  // namespace moe
