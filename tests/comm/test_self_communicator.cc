// The size-1 group (and the world group of a run without mpirun): every
// collective is a copy, with the same argument checks as MPI groups.
#include <gtest/gtest.h>

#include "comm/collectives.h"
#include "comm/mpi_communicator.h"
#include "core/error.h"
#include "tests/comm/comm_test_util.h"

namespace moe::test {
namespace {

using comm::ReduceOp;

// The error message of fn(), or "" when it does not throw moe::Error.
template <typename Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_ERROR_HAS(stmt, text)                                      \
  do {                                                                    \
    const std::string msg_ = error_of([&] { stmt; });                     \
    EXPECT_NE(msg_.find(text), std::string::npos) << "message: " << msg_; \
  } while (0)

TEST(SelfCommunicator, CollectivesAreCopies) {
  auto c = comm::self_communicator("tp");
  EXPECT_EQ(c->rank(), 0);
  EXPECT_EQ(c->size(), 1);
  EXPECT_EQ(c->name(), "tp");
  const Tensor x = rank_tensor(0, {3, 4}, 1);
  for (ReduceOp op : {ReduceOp::sum, ReduceOp::avg, ReduceOp::max}) {
    Tensor t = x.clone();
    c->all_reduce(t, op);
    expect_same(t, x);
    c->all_reduce_async(t, op)->wait();
    expect_same(t, x);
  }
  Tensor g = c->all_gather(non_contiguous(x), 1);
  expect_same(g, x);
  EXPECT_NE(g.raw_data(), x.raw_data());  // a new tensor, not an alias
  expect_same(c->reduce_scatter(x, ReduceOp::sum, -1), x);
  expect_same(c->all_to_all_single(x, {3}, {3}), x);
  auto w = c->all_to_all_single_async(x, {3}, {3});
  EXPECT_TRUE(w->done());
  expect_same(w->result(), x);
  EXPECT_EQ(c->all_to_all_counts({7}), (std::vector<int64_t>{7}));
  Tensor b = x.clone();
  c->broadcast(b, 0);
  expect_same(b, x);
  c->barrier();
  EXPECT_EQ(comm::all_reduce_values(*c, std::vector<double>{1.5, 2}, ReduceOp::avg),
            (std::vector<double>{1.5, 2}));
}

TEST(SelfCommunicator, SendToItselfQueuesPerTag) {
  auto c = comm::self_communicator();
  c->send(full({2}, 1.0), 0, 1);
  c->send(full({2}, 2.0), 0, 2);
  Tensor t = zeros({2});
  c->recv(t, 0, 2);
  EXPECT_EQ(t.to_vector(), (std::vector<double>{2, 2}));
  c->recv(t, 0, 1);
  EXPECT_EQ(t.to_vector(), (std::vector<double>{1, 1}));
  EXPECT_ERROR_HAS(c->recv(t, 0, 1), "nothing was sent with tag 1");
}

TEST(SelfCommunicator, SplitGivesAnotherSelf) {
  auto c = comm::self_communicator("world");
  c->set_timeout_s(12);
  auto sub = c->split(5, 0, "ep");
  EXPECT_EQ(sub->name(), "ep");
  EXPECT_EQ(sub->size(), 1);
  EXPECT_EQ(sub->timeout_s(), 12);
}

TEST(SelfCommunicator, ChecksNameOpGroupAndShape) {
  auto c = comm::self_communicator("ep");
  Tensor bf = zeros({2}, DType::bf16);
  EXPECT_ERROR_HAS(c->all_reduce(bf, ReduceOp::sum), "all_reduce on group 'ep' (rank 0 of 1)");
  EXPECT_ERROR_HAS(c->all_reduce(bf, ReduceOp::sum), "bf16");
  Tensor view = zeros({3, 4}).transpose(0, 1);
  EXPECT_ERROR_HAS(c->all_reduce(view, ReduceOp::sum), "must be contiguous");
  EXPECT_ERROR_HAS(c->broadcast(view, 0), "broadcast on group 'ep'");
  EXPECT_ERROR_HAS(c->all_gather(zeros({3}), 1), "dim 1 is out of range for f32[3] cpu");
  EXPECT_ERROR_HAS(c->all_to_all_single(zeros({4, 2}), {3}, {3}), "send_rows sum to 3 but x f32[4, 2] cpu has 4 rows");
  EXPECT_ERROR_HAS(c->all_to_all_single(zeros({4, 2}), {4, 0}, {4}), "send_rows has 2 entries");
  EXPECT_ERROR_HAS(c->all_to_all_single(zeros({4, 2}), {4}, {-1}), "recv_rows[0] = -1 is negative");
  EXPECT_ERROR_HAS(c->all_to_all_single(zeros({4, 2}), {4}, {2}), "recv_rows[0] = 2");
  EXPECT_ERROR_HAS(c->broadcast(bf, 1), "peer/root 1 is not a rank");
  EXPECT_ERROR_HAS(c->split(-1, 0, "x"), "color -1");
  EXPECT_ERROR_HAS(c->set_timeout_s(0), "not a positive timeout");
}

TEST(SelfCommunicator, WorldWithoutLauncherIsSizeOne) {
  if (comm::mpi_active()) GTEST_SKIP() << "running under mpirun";
  auto world = comm::world_communicator(7);
  EXPECT_EQ(world->size(), 1);
  EXPECT_EQ(world->name(), "world");
  EXPECT_EQ(world->timeout_s(), 7);
  EXPECT_EQ(comm::rank_label().rfind("rank 0 on ", 0), 0u);
}

TEST(SelfCommunicator, DifferentiableWrappersAreIdentities) {
  auto c = comm::self_communicator();
  Tensor x = rank_tensor(0, {4, 2}, 3, DType::f64);
  x.set_requires_grad();
  Tensor w = rank_tensor(0, {4, 2}, 4, DType::f64);
  Tensor y = comm::reduce_from_group(*c, comm::copy_to_group(*c, x));
  y = comm::reduce_scatter_autograd(*c, comm::all_gather_autograd(*c, y, 1), 0);
  y = comm::all_to_all_autograd(*c, y, {4}, {4});
  expect_same(y, x.detach());
  sum(y * w).backward();
  expect_same(x.grad(), w);
}

}  // namespace
}  // namespace moe::test
