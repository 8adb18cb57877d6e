// gtest main of every layer's test program. Under mpirun each rank runs the
// same tests in the same order; only rank 0 prints gtest's normal report,
// other ranks print just their failures (prefixed "[rank R]"), and the exit
// code is the worst over all ranks so any rank's failure fails the program.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "comm/mpi_communicator.h"
#include "tests/mpi_test_util.h"

namespace moe::test {

comm::Communicator& test_world() {
  static std::unique_ptr<comm::Communicator> world =
      comm::world_communicator(std::getenv("MOE_COMM_TIMEOUT_S") ? 0.0 : 60.0);
  return *world;
}

}  // namespace moe::test

namespace {

// Failures of a rank whose default printer was removed.
class RankFailurePrinter : public testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const testing::TestPartResult& r) override {
    if (!r.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: Failure\n%s\n", rank_, r.file_name() ? r.file_name() : "?",
                 r.line_number(), r.message());
  }
  void OnTestEnd(const testing::TestInfo& info) override {
    if (info.result()->Failed())
      std::fprintf(stderr, "[rank %d] FAILED %s.%s\n", rank_, info.test_suite_name(), info.name());
    std::fflush(stderr);
  }

 private:
  int rank_;
};

// mpirun exports MOE_EXPECT_RANKS (tests/CMakeLists.txt): a world of another
// size means MPI was not picked up, and every Mpi* test would skip silently.
bool world_size_as_expected(int size) {
  const char* expect = std::getenv("MOE_EXPECT_RANKS");
  if (!expect || std::atoi(expect) == size) return true;
  std::fprintf(stderr, "[%s] MOE_EXPECT_RANKS=%s but the world has %d rank(s): was MPI detected?\n",
               moe::comm::rank_label().c_str(), expect, size);
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  moe::comm::mpi_init(&argc, &argv);
  testing::InitGoogleTest(&argc, argv);
  moe::comm::Communicator& world = moe::test::test_world();
  if (!world_size_as_expected(world.size())) return 1;
  if (world.rank() != 0) {
    testing::TestEventListeners& listeners = testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankFailurePrinter(world.rank()));
  }
  const int rc = RUN_ALL_TESTS();
  using moe::comm::ReduceOp;
  const int64_t failed_ranks = moe::comm::all_reduce_values(world, std::vector<int64_t>{rc != 0}, ReduceOp::sum)[0];
  const std::vector<int64_t> worst = moe::comm::all_reduce_values(world, std::vector<int64_t>{rc}, ReduceOp::max);
  if (world.rank() == 0 && failed_ranks > (rc != 0))  // rank 0's own report said PASSED
    std::fprintf(stderr, "[rank 0] %lld of %d ranks failed (their failures are printed as [rank R] lines)\n",
                 static_cast<long long>(failed_ranks), world.size());
  return int(worst[0]);
}
