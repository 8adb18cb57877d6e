#pragma once
// Crash points for the kill -9 tests: MOE_CKPT_TEST_KILL=<point> makes the
// process SIGKILL itself (no cleanup, as kill -9 would) when the save
// reaches that point. Points: after_file (a rank's file is on disk),
// after_metadata (rank 0 wrote the index into the temporary directory),
// after_rename (the step directory is in place, `latest` not yet moved).
#include <csignal>
#include <cstdlib>
#include <cstring>

namespace moe::checkpoint {

inline void test_kill_point(const char* point) {
  const char* v = std::getenv("MOE_CKPT_TEST_KILL");
  if (v && std::strcmp(v, point) == 0) std::raise(SIGKILL);
}

}  // namespace moe::checkpoint
