#pragma once
// What the shim's two halves share: simt.cc (kernel execution) and
// runtime_api.cc (errors, memory, streams, events).
#include <functional>
#include <string>

#include "core/cuda/simt/simt.h"

namespace moe::simt::internal {

// printf into a std::string.
std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
// Sets this host thread's last error (and its detail text); returns `e`.
cudaError_t fail(cudaError_t e, std::string detail = {});
// A kernel fault: reported once, by the next synchronising call or
// cudaGetLastError of any thread.
void report_fault(std::string detail);
// Runs `work` in the order of stream `s`: queued for a created stream's host
// thread; on the calling thread for the default streams (the legacy one after
// the blocking streams' queued work, as CUDA's implicit synchronisation).
cudaError_t submit(cudaStream_t s, const char* what, std::function<void()> work);
// The kernel's dynamic shared memory limit (cudaFuncSetAttribute, default 48 KiB).
int max_dynamic_smem(const void* func);

}  // namespace moe::simt::internal
