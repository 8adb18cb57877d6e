// The watchdog: a wait past the group's timeout reports the collective, its
// sequence number and the group, names the ranks that never reached it, and
// aborts (here: a test abort handler that records the line).
#include <gtest/gtest.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <functional>
#include <thread>

#include "comm/hang_exchange.h"
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
  EXPECT_THROW(comm::watched_wait([] { return false; }, comm::WaitSite{"all_to_all_single", 7}, *c), Error);
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(waited, 0.05);
  EXPECT_LT(waited, 2.0);
  EXPECT_EQ(abort.line().rfind("[rank 0 on ", 0), 0u) << abort.line();
  EXPECT_NE(abort.line().find("all_to_all_single on group 'ep' (rank 0 of 1), collective 7 waited 0."),
            std::string::npos)
      << abort.line();
  EXPECT_NE(abort.line().find("parallel.comm_timeout_s"), std::string::npos) << abort.line();
  EXPECT_NE(abort.line().find("a peer rank crashed, hangs, or called the collectives in another order; aborting "
                              "the job"),
            std::string::npos)
      << abort.line();
}

TEST(Watchdog, MessageCarriesThePositionAndTheAnalysis) {
  auto c = comm::self_communicator("watch");
  EXPECT_EQ(comm::timeout_message(comm::WaitSite{"recv", 3, 0, 77}, *c, 5.04, "it is rank 9's fault"),
            "recv on group 'watch' (rank 0 of 1), send/recv 3 of this rank waited 5.0 s (timeout; set by "
            "MOE_COMM_TIMEOUT_S, parallel.comm_timeout_s or set_timeout_s): it is rank 9's fault; aborting the job");
  EXPECT_EQ(comm::report_grace_s(300), 3.0);
  EXPECT_EQ(comm::report_grace_s(0.05), 0.5);
}

// Every operation is numbered per group, also on a group of one.
TEST(Watchdog, SelfGroupNumbersItsOperations) {
  auto c = comm::self_communicator("solo");
  EXPECT_EQ(c->collectives_started(), 0);
  Tensor t = zeros({2});
  c->all_reduce(t, comm::ReduceOp::sum);
  c->barrier();
  c->broadcast(t, 0);
  auto sub = c->split(0, 0, "sub");
  EXPECT_EQ(c->collectives_started(), 4);
  EXPECT_EQ(sub->collectives_started(), 0);
  c->send(t, 0, 1);
  c->recv(t, 0, 1);
  EXPECT_EQ(c->p2p_started(), 2);
  EXPECT_EQ(c->collectives_started(), 4);
  EXPECT_EQ(c->world_rank_of(0), 0);
  // Live groups are what a position lists.
  bool listed = false;
  for (const comm::GroupMark& g : comm::live_groups()) listed |= g.name == "solo" && g.collectives == 4;
  EXPECT_TRUE(listed);
}

TEST(Watchdog, CompletionReturnsPromptly) {
  auto c = comm::self_communicator();
  int polls = 0;
  comm::watched_wait([&] { return ++polls == 3; }, comm::WaitSite{"barrier"}, *c);
  EXPECT_EQ(polls, 3);
  // A wait of ~5 ms (past spinning and yielding, into the sleeps) still
  // returns within a few ms of completion.
  const auto start = std::chrono::steady_clock::now();
  const auto ready = start + std::chrono::milliseconds(5);
  comm::watched_wait([&] { return std::chrono::steady_clock::now() >= ready; }, comm::WaitSite{"barrier"}, *c);
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
    EXPECT_NE(abort.line().find("recv on group 'watch' (rank 0 of " + std::to_string(group->size()) +
                                "), send/recv 1 of this rank waited"),
              std::string::npos)
        << abort.line();
    // Rank 1 waits in the barrier below and answers from its wait loop.
    EXPECT_NE(abort.line().find("recv from world rank 1 (host " + comm::world_hosts()[1] +
                                ") with tag 77 on group 'watch' was never matched: it waits in barrier "
                                "(collective 1 on group 'watch', "),
              std::string::npos)
        << abort.line();
    EXPECT_EQ(abort.line().find("did not answer"), std::string::npos) << abort.line();
  }
  group->set_timeout_s(world.timeout_s());
  group->barrier();
  if (group->rank() == 1) group->send(full({4}, 3.0), 0, 77);
  if (group->rank() == 0) {
    group->recv(t, 1, 77);
    EXPECT_EQ(t.to_vector(), (std::vector<double>{3, 3, 3, 3}));
  }
}

// Sequence numbers agree over the group, and world_rank_of maps group
// ranks back to the world.
TEST(MpiWatchdog, SequenceNumbersAgree) {
  comm::Communicator& world = test_world();
  MOE_REQUIRE_MIN_RANKS(2);
  auto odd = world.split(world.rank() % 2, world.rank(), "parity");
  Tensor t = zeros({3});
  for (int i = 0; i < 3; ++i) odd->all_reduce(t, comm::ReduceOp::sum);
  odd->all_gather(t);
  odd->barrier();
  EXPECT_EQ(odd->collectives_started(), 5);
  // min == max over the world
  const std::vector<int64_t> seq = comm::all_reduce_values(
      world, std::vector<int64_t>{odd->collectives_started(), -odd->collectives_started()}, comm::ReduceOp::max);
  EXPECT_EQ(seq[0], -seq[1]);
  for (int r = 0; r < odd->size(); ++r) EXPECT_EQ(odd->world_rank_of(r), world.rank() % 2 + 2 * r);
  EXPECT_EQ(world.world_rank_of(world.rank()), world.rank());
  EXPECT_EQ(comm::world_hosts().size(), size_t(world.size()));
}

// The last rank stays away from a collective: the others time out, and
// their line names it. `away` is what it does meanwhile; afterwards it
// joins and the collective completes on every rank.
void expect_last_rank_named(const std::function<void(comm::Communicator& world)>& away, const std::string& about_it,
                            double timeout_s) {
  comm::Communicator& world = test_world();
  const int last = world.size() - 1;
  auto group = world.split(0, world.rank(), "watch");
  group->barrier();
  const int64_t n = group->collectives_started() + 1;
  Tensor t = full({2}, 1.0);
  if (world.rank() != last) {
    group->set_timeout_s(timeout_s);
    std::unique_ptr<comm::Work> w = group->all_reduce_async(t, comm::ReduceOp::sum);
    EXPECT_EQ(group->collectives_started(), n);
    {
      CaptureAbort abort;
      EXPECT_THROW(w->wait(), Error);
      const std::string head = "collective " + std::to_string(n) + " (all_reduce on group 'watch') was never "
                               "reached by world rank " + std::to_string(last) + " (host " +
                               comm::world_hosts()[size_t(last)] + "): ";
      EXPECT_NE(abort.line().find(head + about_it), std::string::npos) << abort.line();
      EXPECT_NE(abort.line().find("all_reduce on group 'watch' (rank " + std::to_string(world.rank()) + " of " +
                                  std::to_string(world.size()) + "), collective " + std::to_string(n) + " waited"),
                std::string::npos)
          << abort.line();
      EXPECT_EQ(abort.line().find("other world ranks"), std::string::npos) << abort.line();
    }
    group->set_timeout_s(world.timeout_s());
    if (world.rank() == 0) world.send(full({1}, 1.0), last, 91);  // lets a waiting last rank go on
    w->wait();
  } else {
    away(world);
    group->all_reduce(t, comm::ReduceOp::sum);
  }
  EXPECT_EQ(t.to_vector(), (std::vector<double>{double(world.size()), double(world.size())}));
}

// Busy outside communication (or stopped) for longer than timeout + grace:
// it cannot answer.
TEST(MpiWatchdog, SilentRankIsNamed) {
  MOE_REQUIRE_MIN_RANKS(2);
  expect_last_rank_named(
      [](comm::Communicator& world) {
        std::this_thread::sleep_for(std::chrono::milliseconds(3000));
        Tensor token = zeros({1});
        world.recv(token, 0, 91);
      },
      "it did not answer (not in a communication wait", 0.3);
}

// Behind: it waits in another operation and answers from there. The
// timeout leaves it time to get there: on an oversubscribed machine (4
// ranks on 2 cores) a rank may be descheduled for a few tenths of a second
// between the barrier and its recv, and then it is not yet "behind".
TEST(MpiWatchdog, BehindRankSaysWhereItIs) {
  MOE_REQUIRE_MIN_RANKS(2);
  expect_last_rank_named(
      [](comm::Communicator& world) {
        Tensor token = zeros({1});
        world.recv(token, 0, 91);
      },
      "it is at collective 1 of 'watch' and waits in recv from world rank 0 (group 'world', tag 91, ", 2.0);
}

}  // namespace
}  // namespace moe::test
