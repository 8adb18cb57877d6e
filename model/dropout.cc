#include "model/dropout.h"

#include <vector>

#include "core/ops.h"

namespace moe::model {

Tensor sequence_dropout(const Tensor& x, double p, const BatchInfo& info, uint64_t site) {
  if (p <= 0) return x;
  std::vector<Tensor> rows;
  for (int64_t b = 0; b < x.size(0); ++b) {
    const uint64_t seq = info.global_sequence.empty() ? uint64_t(b) : uint64_t(info.global_sequence[size_t(b)]);
    // Sites stay below 2^20, so (seq, site) pairs never collide.
    rows.push_back(dropout(select(x, 0, b), p, info.seed, (seq << 20) | site));
  }
  return stack(rows, 0);
}

}  // namespace moe::model
