#pragma once
// Side streams of a device, for independent work items the backend may run
// concurrently (each expert's FP8 GEMMs). Plain C++ declarations, so every
// build sees them: without CUDA they are stubs that throw
// (core/cuda/stubs.cc); the definitions are in core/cuda/context.cu.
#include <functional>

namespace moe::cuda {

// How many side streams a device has.
int side_stream_count();
// Side streams [0, n) wait for the work queued on the current stream so far.
void fork_side_streams(int device, int n);
// fn() with the current stream of `device` set to side stream i.
void run_on_side_stream(int device, int i, const std::function<void()>& fn);
// The current stream waits for the work queued on side streams [0, n).
void join_side_streams(int device, int n);

}  // namespace moe::cuda
