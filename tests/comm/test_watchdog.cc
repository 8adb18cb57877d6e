// The watchdog: a wait past the group's timeout reports the collective and
// the group and aborts (here: a test abort handler that records the line).
#include <gtest/gtest.h>

#include <chrono>
#include <climits>
#include <cstdlib>

#include "comm/mpi_communicator.h"
#include "comm/mpi_util.h"
#include "comm/watchdog.h"
#include "core/error.h"
#include "tests/comm/comm_test_util.h"

namespace moe::test {
namespace {

// Records abort_job's line instead of aborting, for the scope.
class CaptureAbort {
 public:
  CaptureAbort() {
    comm::set_abort_handler_for_testing([this](const std::string& line) { line_ = line; });
  }
  ~CaptureAbort() { comm::set_abort_handler_for_testing(nullptr); }
  const std::string& line() const { return line_; }

 private:
  std::string line_;
};

TEST(Watchdog, TimeoutNamesOpAndGroup) {
  auto c = comm::self_communicator("ep");
  c->set_timeout_s(0.05);
  CaptureAbort abort;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(comm::watched_wait([] { return false; }, "all_to_all_single", *c), Error);
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(waited, 0.05);
  EXPECT_LT(waited, 2.0);
  EXPECT_EQ(abort.line().rfind("[rank 0 on ", 0), 0u) << abort.line();
  EXPECT_NE(abort.line().find("all_to_all_single on group 'ep' (rank 0 of 1) waited 0."), std::string::npos)
      << abort.line();
  EXPECT_NE(abort.line().find("aborting the job"), std::string::npos) << abort.line();
}

TEST(Watchdog, CompletionReturnsPromptly) {
  auto c = comm::self_communicator();
  int polls = 0;
  comm::watched_wait([&] { return ++polls == 3; }, "barrier", *c);
  EXPECT_EQ(polls, 3);
  // A wait of ~5 ms (past spinning and yielding, into the sleeps) still
  // returns within a few ms of completion.
  const auto start = std::chrono::steady_clock::now();
  const auto ready = start + std::chrono::milliseconds(5);
  comm::watched_wait([&] { return std::chrono::steady_clock::now() >= ready; }, "barrier", *c);
  EXPECT_LT(std::chrono::steady_clock::now() - ready, std::chrono::milliseconds(100));  // loose: ctest may run in parallel
}

TEST(Watchdog, DefaultTimeoutFromEnvironment) {
  const char* old = std::getenv("MOE_COMM_TIMEOUT_S");
  const std::string saved = old ? old : "";
  setenv("MOE_COMM_TIMEOUT_S", "12.5", 1);
  EXPECT_EQ(comm::default_timeout_s(), 12.5);
  EXPECT_EQ(comm::self_communicator()->timeout_s(), 12.5);
  setenv("MOE_COMM_TIMEOUT_S", "soon", 1);
  EXPECT_THROW(comm::default_timeout_s(), Error);
  unsetenv("MOE_COMM_TIMEOUT_S");
  EXPECT_EQ(comm::default_timeout_s(), 300.0);
  if (old) setenv("MOE_COMM_TIMEOUT_S", saved.c_str(), 1);
}

TEST(Watchdog, CountOverflowIsAClearError) {
  auto c = comm::self_communicator("ep");
  EXPECT_EQ(comm::to_mpi_count(INT_MAX, "numel", "all_gather", *c), INT_MAX);
  try {
    comm::to_mpi_count(int64_t(INT_MAX) + 1, "send elements", "all_to_all_single", *c);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("all_to_all_single on group 'ep' (rank 0 of 1): send elements = 2147483648"),
              std::string::npos)
        << msg;
  }
}

// A receive nobody answers in time: the watchdog names recv and the group;
// the receive is cancelled, so the group is still usable afterwards.
TEST(MpiWatchdog, UnansweredRecvTimesOut) {
  comm::Communicator& world = test_world();
  MOE_REQUIRE_MIN_RANKS(2);
  auto group = world.split(0, world.rank(), "watch");
  group->set_timeout_s(0.2);
  Tensor t = zeros({4});
  if (group->rank() == 0) {
    CaptureAbort abort;
    EXPECT_THROW(group->recv(t, 1, 77), Error);
    EXPECT_NE(abort.line().find("recv on group 'watch' (rank 0 of " + std::to_string(group->size()) + ") waited"),
              std::string::npos)
        << abort.line();
  }
  group->set_timeout_s(world.timeout_s());
  group->barrier();
  if (group->rank() == 1) group->send(full({4}, 3.0), 0, 77);
  if (group->rank() == 0) {
    group->recv(t, 1, 77);
    EXPECT_EQ(t.to_vector(), (std::vector<double>{3, 3, 3, 3}));
  }
}

}  // namespace
}  // namespace moe::test
