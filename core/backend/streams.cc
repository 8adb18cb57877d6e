#include "core/backend/streams.h"

#include <algorithm>

#include "core/cuda/streams.h"

namespace moe::backend {

SideStreams::SideStreams(Device d, int64_t items) : d_(d) {
  if (!d.is_cuda() || items < 2) return;
  n_ = int(std::min<int64_t>(items, cuda::side_stream_count()));
  cuda::fork_side_streams(d.index, n_);
}

void SideStreams::join() {
  if (n_ == 0) return;
  const int n = n_;
  n_ = 0;
  cuda::join_side_streams(d_.index, n);
}

SideStreams::~SideStreams() {
  try {
    join();
  } catch (...) {
    // Unwinding already: the first error is the one reported.
  }
}

void SideStreams::run(int64_t item, const std::function<void()>& fn) {
  if (n_ == 0) return fn();
  cuda::run_on_side_stream(d_.index, int(item % n_), fn);
}

}  // namespace moe::backend
