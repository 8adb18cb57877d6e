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
    const uint64_t stream = (seq << 20) | site;
    const Tensor row = select(x, 0, b);
    if (info.seq_len > 0 && info.seq_len != x.size(1)) {
      // Sequence parallel: this rank's positions of the whole sequence's mask.
      const Tensor mask = dropout(ones({info.seq_len, x.size(2)}, x.dtype(), x.device()), p, info.seed, stream);
      rows.push_back(mul(row, narrow(mask, 0, info.position_offset, x.size(1))));
    } else {
      rows.push_back(dropout(row, p, info.seed, stream));
    }
  }
  return stack(rows, 0);
}

}  // namespace moe::model
