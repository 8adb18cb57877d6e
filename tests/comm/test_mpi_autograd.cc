// The differentiable collectives: forward values, and gradients of
// loss = sum(w_r * y_r) (w_r known on every rank) against the transpose of
// the forward map computed locally.
#include <gtest/gtest.h>

#include "comm/collectives.h"
#include "tests/comm/comm_test_util.h"

namespace moe::test {
namespace {

constexpr uint64_t kWeightSeed = 1000;

Tensor leaf(const Tensor& x) {
  Tensor l = x.clone();
  l.set_requires_grad();
  return l;
}

// Backward of loss = sum(w * y) from every rank (the collectives inside
// backward need all of them).
void backward_weighted(const Tensor& y, const Tensor& w) { sum(y * w).backward(); }

Tensor weight(int rank, const Shape& shape) { return rank_tensor(rank, shape, kWeightSeed, DType::f64); }

TEST(MpiCollectiveGrad, AllToAllBackwardIsReverseRouting) {
  comm::Communicator& world = test_world();
  const int n = world.size(), r = world.rank();
  // rows[p][q] = (p + 2q) % 3, and rank 0 sends nothing.
  auto rows = [](int p, int q) -> int64_t { return p == 0 ? 0 : (p + 2 * q) % 3; };
  std::vector<int64_t> send, recv;
  for (int q = 0; q < n; ++q) send.push_back(rows(r, q));
  for (int p = 0; p < n; ++p) recv.push_back(rows(p, r));
  Tensor x = leaf(rank_tensor(r, {sum_of(send), 3}, 1, DType::f64));
  Tensor y = comm::all_to_all_autograd(world, x, send, recv);
  EXPECT_EQ(y.size(0), sum_of(recv));
  backward_weighted(y, weight(r, y.shape()));

  // Row k of what r sends to q landed in q's output at offset
  // (rows from ranks before r) + k, where q's weight multiplied it.
  std::vector<Tensor> parts;
  for (int q = 0; q < n; ++q) {
    int64_t q_rows = 0, before = 0;
    for (int p = 0; p < n; ++p) {
      if (p == r) before = q_rows;
      q_rows += rows(p, q);
    }
    parts.push_back(weight(q, {q_rows, 3}).narrow(0, before, rows(r, q)));
  }
  expect_same(x.grad(), cat(parts, 0));
}

TEST(MpiCollectiveGrad, AllGatherBackwardIsReduceScatter) {
  comm::Communicator& world = test_world();
  const int n = world.size(), r = world.rank();
  for (int64_t dim : {0, 1}) {
    Tensor x = leaf(rank_tensor(r, {2, 3}, 2, DType::f64));
    Tensor y = comm::all_gather_autograd(world, non_contiguous(x), dim);
    expect_same(y, cat(all_inputs(n, [](int p) { return rank_tensor(p, {2, 3}, 2, DType::f64); }), dim));
    backward_weighted(y, weight(r, y.shape()));
    // d loss / d x_r = sum over ranks q of q's weight on the slot of x_r.
    Tensor want = zeros({2, 3}, DType::f64);
    for (int q = 0; q < n; ++q) want = want + weight(q, y.shape()).narrow(dim, r * x.size(dim), x.size(dim));
    expect_same(x.grad(), want);
  }
}

TEST(MpiCollectiveGrad, ReduceScatterBackwardIsAllGather) {
  comm::Communicator& world = test_world();
  const int n = world.size(), r = world.rank();
  for (int64_t dim : {0, 1}) {
    Shape shape{2, 3};
    shape[size_t(dim)] *= n;
    Tensor x = leaf(rank_tensor(r, shape, 3, DType::f64));
    Tensor y = comm::reduce_scatter_autograd(world, x, dim);
    Tensor total = zeros(shape, DType::f64);
    for (int p = 0; p < n; ++p) total = total + rank_tensor(p, shape, 3, DType::f64);
    expect_same(y, contiguous(total.narrow(dim, r * y.size(dim), y.size(dim))));
    backward_weighted(y, weight(r, y.shape()));
    expect_same(x.grad(), cat(all_inputs(n, [&](int q) { return weight(q, y.shape()); }), dim));
  }
}

TEST(MpiCollectiveGrad, CopyToGroupAndReduceFromGroup) {
  comm::Communicator& world = test_world();
  const int n = world.size(), r = world.rank();
  const Shape shape{3, 2};
  auto sum_weights = [&] {
    Tensor s = zeros(shape, DType::f64);
    for (int q = 0; q < n; ++q) s = s + weight(q, shape);
    return s;
  };

  Tensor x = leaf(rank_tensor(r, shape, 4, DType::f64));
  Tensor y = comm::copy_to_group(world, x);
  expect_same(y, x.detach());
  backward_weighted(y, weight(r, shape));
  expect_same(x.grad(), sum_weights());  // backward: all-reduce

  Tensor x2 = leaf(rank_tensor(r, shape, 5, DType::f64));
  Tensor z = comm::reduce_from_group(world, x2);
  Tensor total = zeros(shape, DType::f64);
  for (int p = 0; p < n; ++p) total = total + rank_tensor(p, shape, 5, DType::f64);
  expect_same(z, total);
  backward_weighted(z, weight(r, shape));
  expect_same(x2.grad(), weight(r, shape));  // backward: identity
}

// Megatron's f/g pair around a rank-local factor a_r on a replicated x:
// z = sum_r a_r * x, so d sum(w z) / dx = w * sum_r a_r on every rank.
TEST(MpiCollectiveGrad, ParallelRegionPair) {
  comm::Communicator& world = test_world();
  const int n = world.size(), r = world.rank();
  const Shape shape{4};
  Tensor x = leaf(rank_tensor(0, shape, 6, DType::f64));  // replicated
  Tensor a = rank_tensor(r, shape, 7, DType::f64);
  Tensor w = rank_tensor(0, shape, 8, DType::f64);  // replicated
  Tensor z = comm::reduce_from_group(world, comm::copy_to_group(world, x) * a);
  backward_weighted(z, w);
  Tensor sum_a = zeros(shape, DType::f64);
  for (int p = 0; p < n; ++p) sum_a = sum_a + rank_tensor(p, shape, 7, DType::f64);
  expect_same(x.grad(), w * sum_a);
}

}  // namespace
}  // namespace moe::test
