// send/recv around a ring, receive errors, and sub-groups made by split.
#include <gtest/gtest.h>

#include "comm/communicator.h"
#include "core/error.h"
#include "tests/comm/comm_test_util.h"

namespace moe::test {
namespace {

// Even ranks send first and odd ranks receive first, so no cycle of
// blocking sends forms even when a message is too big to go eagerly.
void ring_exchange(comm::Communicator& c, const Shape& shape, DType dtype, uint64_t seed) {
  const int n = c.size(), r = c.rank();
  const int next = (r + 1) % n, prev = (r + n - 1) % n;
  Tensor mine = rank_tensor(r, shape, seed, dtype);
  Tensor got = zeros(shape, dtype);
  if (r % 2 == 0) {
    c.send(mine, next, 5);
    c.recv(got, prev, 5);
  } else {
    c.recv(got, prev, 5);
    c.send(mine, next, 5);
  }
  expect_same(got, rank_tensor(prev, shape, seed, dtype));
}

TEST(MpiSendRecv, Ring) {
  comm::Communicator& world = test_world();
  MOE_REQUIRE_MIN_RANKS(2);
  ring_exchange(world, {4, 3}, DType::f32, 1);
  ring_exchange(world, {7}, DType::bf16, 2);
  ring_exchange(world, {512, 512}, DType::f32, 3);  // 1 MiB: rendezvous protocol
}

TEST(MpiSendRecv, NonContiguousSend) {
  comm::Communicator& world = test_world();
  MOE_REQUIRE_MIN_RANKS(2);
  Tensor x = rank_tensor(0, {3, 4}, 9);
  if (world.rank() == 0) world.send(non_contiguous(x), 1, 1);
  if (world.rank() == 1) {
    Tensor got = zeros({3, 4});
    world.recv(got, 0, 1);
    expect_same(got, x);
  }
}

TEST(MpiSendRecv, SizeMismatchIsAnError) {
  comm::Communicator& world = test_world();
  MOE_REQUIRE_MIN_RANKS(2);
  if (world.rank() == 0) {
    world.send(zeros({8}), 1, 2);
    world.send(zeros({8}), 1, 3);
  }
  if (world.rank() == 1) {
    Tensor small = zeros({4}), big = zeros({16});
    EXPECT_THROW(world.recv(small, 0, 2), Error);  // MPI reports truncation
    try {
      world.recv(big, 0, 3);
      FAIL() << "expected an error";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("recv on group 'world' (rank 1 of"), std::string::npos) << msg;
      EXPECT_NE(msg.find("got 8 elements"), std::string::npos) << msg;
    }
  }
  world.barrier();
}

TEST(MpiSplit, ParityGroupsWithReversedKeys) {
  comm::Communicator& world = test_world();
  const int n = world.size(), r = world.rank();
  auto group = world.split(r % 2, -r, "parity");
  std::vector<int> members;  // same parity, largest world rank first
  for (int p = n - 1; p >= 0; --p)
    if (p % 2 == r % 2) members.push_back(p);
  EXPECT_EQ(group->name(), "parity");
  EXPECT_EQ(group->size(), int(members.size()));
  EXPECT_EQ(members[size_t(group->rank())], r);
  EXPECT_EQ(group->timeout_s(), world.timeout_s());

  // all_gather lists the members in group order.
  Tensor gathered = group->all_gather(full({1}, double(r), DType::i64), 0);
  std::vector<double> want(members.begin(), members.end());
  EXPECT_EQ(gathered.to_vector(), want);

  Tensor t = rank_tensor(r, {2, 3}, 4);
  group->all_reduce(t, comm::ReduceOp::sum);
  Tensor sum = zeros({2, 3});
  for (int p : members) sum = sum + rank_tensor(p, {2, 3}, 4);
  expect_same(t, sum);

  // A nested split and an all-to-all inside the sub-group.
  auto inner = group->split(0, group->rank(), "inner");
  EXPECT_EQ(inner->rank(), group->rank());
  EXPECT_EQ(inner->size(), group->size());
  const int m = inner->size();
  std::vector<int64_t> one(size_t(m), 1);
  Tensor rows = full({m, 2}, double(inner->rank()));
  Tensor got = inner->all_to_all_single(rows, one, one);
  std::vector<double> expect;
  for (int p = 0; p < m; ++p) expect.insert(expect.end(), {double(p), double(p)});
  EXPECT_EQ(got.to_vector(), expect);
}

TEST(MpiSplit, SameColorKeepsWorldOrder) {
  comm::Communicator& world = test_world();
  auto all = world.split(3, 0, "all");
  EXPECT_EQ(all->rank(), world.rank());
  EXPECT_EQ(all->size(), world.size());
  all->barrier();
}

TEST(MpiSplit, ErrorsNameTheSubGroup) {
  comm::Communicator& world = test_world();
  auto group = world.split(world.rank() % 2, world.rank(), "ep");
  Tensor t = zeros({2}, DType::bf16);
  try {
    group->all_reduce(t, comm::ReduceOp::sum);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("all_reduce on group 'ep' (rank " + std::to_string(group->rank()) + " of " +
                       std::to_string(group->size()) + ")"),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("bf16"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace moe::test
