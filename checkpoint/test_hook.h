#pragma once
// Test hooks of the save path.
//
// Crash points for the kill -9 tests: MOE_CKPT_TEST_KILL=<point> makes the
// process SIGKILL itself (no cleanup, as kill -9 would) when the save
// reaches that point. Points: after_file (a rank's file is on disk),
// after_metadata (rank 0 wrote the index into the temporary directory),
// after_rename (the step directory is in place, `latest` not yet moved).
//
// Write failures, for tests where a full file system cannot be mounted:
//   MOE_CKPT_INJECT_WRITE_ERROR=ERR:TARGET:STEPS[:RANK]
//   ERR     ENOSPC, EIO, EDQUOT, EACCES, EROFS (slice: ENOSPC or EACCES)
//   TARGET  slice    (the rank's HDF5 file: ENOSPC swaps its descriptor for
//                     /dev/full halfway through the tensors, so HDF5 meets a
//                     real ENOSPC; EACCES refuses the file's creation)
//           metadata (rank 0's metadata.pb: half written, then the error)
//           latest   (rank 0's `latest`, after the step directory's rename)
//   STEPS   N (the save of step N), N+ (that save and every later one), *
//   RANK    the rank that fails (default: every rank)
// A malformed value is reported once on stderr and ignored.
//
// A checkpoint holding a NaN, for the tests of verification and resume
// (the save otherwise refuses one): MOE_CKPT_TEST_NAN_TENSOR=NAME:STEP
// writes element 0 of f32 tensor NAME as NaN in the save of step STEP (the
// saved copy only: the live tensor is untouched).
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

namespace moe::checkpoint {

inline void test_kill_point(const char* point) {
  const char* v = std::getenv("MOE_CKPT_TEST_KILL");
  if (v && std::strcmp(v, point) == 0) std::raise(SIGKILL);
}

// The errno a write of `target` ("slice", "metadata", "latest") at the save
// of `step` on `rank` is to fail with; 0: none. Says so on stderr when it
// fires, so a forgotten variable cannot pass for a real failure.
int injected_write_error(const char* target, int64_t step, int rank);

// The tensor MOE_CKPT_TEST_NAN_TENSOR names for the save of `step`; "": none.
std::string test_nan_tensor(int64_t step);

}  // namespace moe::checkpoint
