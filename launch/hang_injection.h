#pragma once
// Test hook of the hang tests (tests/launch/faults): MOE_INJECT_HANG=
// "rank:step:stop" or "rank:step:sleep" makes world rank `rank` hang at the
// start of step `step`: `stop` raises SIGSTOP (a rank frozen from outside),
// `sleep` sleeps forever outside communication (a rank stuck in compute).
// It says so on stderr first. A malformed value is an error naming it.
#include <cstdint>

namespace moe::launch {

void maybe_inject_hang(int rank, int64_t step);

}  // namespace moe::launch
