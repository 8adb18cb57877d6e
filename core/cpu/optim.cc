#include "core/cpu/optim.h"

#include <algorithm>

#include "core/dtype_switch.h"
#include "core/threading.h"

namespace moe::cpu {

namespace {

// Elements of all parameters go in chunks of this many to one parallel pass
// (one region a step instead of one a parameter, most of which are too
// small to split). Element-wise, so any split gives the same bits.
constexpr int64_t kUpdateChunk = 1 << 14;

template <typename M>
void adamw_range(const AdamWTensors& t, int64_t b, int64_t e) {
  float* p = t.param.data<float>();
  const float* g = t.grad.data<float>();
  M* m = t.exp_avg.data<M>();
  M* v = t.exp_avg_sq.data<M>();
  for (int64_t i = b; i < e; ++i) optim_math::adamw_element(p[i], g[i], m[i], v[i], t.scalars);
}

}  // namespace

void adamw_update(const std::vector<AdamWTensors>& params) {
  struct Chunk {
    size_t entry;
    int64_t begin, end;
  };
  std::vector<Chunk> chunks;
  for (size_t i = 0; i < params.size(); ++i) {
    const int64_t n = params[i].param.numel();
    for (int64_t b = 0; b < n; b += kUpdateChunk) chunks.push_back({i, b, std::min(n, b + kUpdateChunk)});
  }
  parallel_for(int64_t(chunks.size()), 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const Chunk& k = chunks[size_t(c)];
      const AdamWTensors& t = params[k.entry];
      if (t.exp_avg.dtype() == DType::bf16)
        adamw_range<bf16_t>(t, k.begin, k.end);
      else
        adamw_range<float>(t, k.begin, k.end);
    }
  });
}

}  // namespace moe::cpu
