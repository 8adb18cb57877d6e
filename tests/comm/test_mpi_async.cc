// Asynchronous collectives: started, overlapped with local compute, waited.
#include <gtest/gtest.h>

#include "comm/communicator.h"
#include "tests/comm/comm_test_util.h"

namespace moe::test {
namespace {

using comm::ReduceOp;

Tensor reduced_sum(int n, const Shape& shape, uint64_t seed) {
  Tensor s = zeros(shape);
  for (int p = 0; p < n; ++p) s = s + rank_tensor(p, shape, seed);
  return s;
}

TEST(MpiAsync, AllReduceOverlapsWithCompute) {
  comm::Communicator& world = test_world();
  const int n = world.size(), r = world.rank();
  Tensor t = rank_tensor(r, {256, 256}, 1);
  auto work = world.all_reduce_async(t, ReduceOp::sum);
  Tensor a = rand({128, 128}, 3);
  Tensor local = matmul(a, a);  // overlapped compute
  work->wait();
  EXPECT_TRUE(work->done());
  EXPECT_FALSE(work->result().defined());
  expect_same(t, reduced_sum(n, {256, 256}, 1));
  EXPECT_EQ(local.size(0), 128);
}

TEST(MpiAsync, TwoOutstandingWaitedInReverse) {
  comm::Communicator& world = test_world();
  const int n = world.size(), r = world.rank();
  Tensor a = rank_tensor(r, {1000}, 2), b = rank_tensor(r, {3, 7}, 3);
  auto wa = world.all_reduce_async(a, ReduceOp::sum);
  auto wb = world.all_reduce_async(b, ReduceOp::avg);
  wb->wait();
  wa->wait();
  expect_same(a, reduced_sum(n, {1000}, 2));
  expect_near(b, reduced_sum(n, {3, 7}, 3) * (1.0 / n), 1e-5);
}

TEST(MpiAsync, DroppedWorkCompletesFirst) {
  comm::Communicator& world = test_world();
  Tensor t = rank_tensor(world.rank(), {64}, 4);
  { auto w = world.all_reduce_async(t, ReduceOp::max); }  // the destructor waits
  Tensor want = rank_tensor(0, {64}, 4);
  for (int p = 1; p < world.size(); ++p) want = where(gt(rank_tensor(p, {64}, 4), want), rank_tensor(p, {64}, 4), want);
  expect_same(t, want);
}

TEST(MpiAsync, AllToAllMatchesBlocking) {
  comm::Communicator& world = test_world();
  const int n = world.size(), r = world.rank();
  std::vector<int64_t> send(static_cast<size_t>(n)), recv(static_cast<size_t>(n));
  for (int p = 0; p < n; ++p) {
    send[size_t(p)] = (r + p) % 3;  // rows r sends to p
    recv[size_t(p)] = (p + r) % 3;  // rows p sends to r
  }
  Tensor x = rank_tensor(r, {sum_of(send), 5}, 6);
  auto work = world.all_to_all_single_async(x, send, recv);
  Tensor local = matmul(rand({64, 64}, 1), rand({64, 64}, 2));
  while (!work->done()) {
  }
  Tensor got = work->result();
  expect_same(got, world.all_to_all_single(x, send, recv));
  EXPECT_EQ(local.size(1), 64);
}

}  // namespace
}  // namespace moe::test
