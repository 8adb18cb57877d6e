#pragma once
// Independent work items (the experts' FP8 GEMMs) on one device: on a GPU
// spread round-robin over its side streams (core/cuda/streams.h), each
// after the work queued so far on the current stream, which waits for all
// of them when the SideStreams goes out of scope; on the CPU run in turn.
// An item may read tensors of the current stream and write disjoint parts
// of one: the join orders their later use and their freeing after it.
#include <cstdint>
#include <functional>

#include "core/device.h"

namespace moe::backend {

class SideStreams {
 public:
  SideStreams(Device d, int64_t items);
  ~SideStreams();  // joins if join() was not reached (an exception)
  SideStreams(const SideStreams&) = delete;
  SideStreams& operator=(const SideStreams&) = delete;
  void run(int64_t item, const std::function<void()>& fn);
  void join();  // the current stream waits for every item

 private:
  Device d_;
  int n_ = 0;  // side streams in use (0: run in turn)
};

}  // namespace moe::backend
