#pragma once
// Helpers for tests that run under mpirun (tests/mpi_main.cc is their main).
// Suites that need several ranks are named Mpi* and are registered in
// tests/<layer>/mpi_tests.cmake; they skip themselves when the world size
// does not fit, so the same program serves every -np.
#include <gtest/gtest.h>

#include "comm/communicator.h"

namespace moe::test {

// The process-wide world group (a size-1 group without mpirun). Its timeout
// is MOE_COMM_TIMEOUT_S, or 60 s in tests so that a rank stuck behind a
// failed peer is reported well before ctest's own timeout.
comm::Communicator& test_world();

}  // namespace moe::test

// Skips the test unless `cond` (an expression over the world size, e.g.
// MOE_WORLD_SIZE % 2 == 0) holds. Every rank sees the same size, so every
// rank skips together and the collectives stay matched.
#define MOE_WORLD_SIZE (::moe::test::test_world().size())
#define MOE_REQUIRE_WORLD(cond)                                                          \
  do {                                                                                   \
    if (!(cond)) GTEST_SKIP() << "needs " #cond "; world size is " << MOE_WORLD_SIZE;    \
  } while (0)
#define MOE_REQUIRE_MIN_RANKS(n) MOE_REQUIRE_WORLD(MOE_WORLD_SIZE >= (n))
