// all_reduce, all_gather, reduce_scatter, broadcast and all_reduce_values on
// the world group, each against a reference built from every rank's input.
#include <gtest/gtest.h>

#include "comm/communicator.h"
#include "comm/checks.h"
#include "core/error.h"
#include "tests/comm/comm_test_util.h"

namespace moe::test {
namespace {

using comm::ReduceOp;

// The reduction of every rank's input, computed here. Integer avg truncates
// toward zero like the communicator's.
Tensor reference_reduce(const std::vector<Tensor>& xs, ReduceOp op, DType dtype) {
  std::vector<double> acc = xs[0].to_vector();
  for (size_t r = 1; r < xs.size(); ++r) {
    const std::vector<double> v = xs[r].to_vector();
    for (size_t i = 0; i < acc.size(); ++i) acc[i] = op == ReduceOp::max ? std::max(acc[i], v[i]) : acc[i] + v[i];
  }
  if (op == ReduceOp::avg)
    for (double& a : acc) a = is_integral(dtype) ? double(int64_t(a) / int64_t(xs.size())) : a / double(xs.size());
  return from_vector(acc, xs[0].shape(), dtype);
}

TEST(MpiCollectives, AllReduceEveryDtypeAndOp) {
  comm::Communicator& world = test_world();
  auto rng = shared_rng(11);
  for (DType dtype : {DType::f32, DType::f64, DType::i32, DType::i64}) {
    for (ReduceOp op : {ReduceOp::sum, ReduceOp::avg, ReduceOp::max}) {
      SCOPED_TRACE(std::string(dtype_name(dtype)) + " " + comm::reduce_op_name(op));
      const Shape shape{draw(rng, 1, 7), draw(rng, 1, 5)};
      const uint64_t seed = uint64_t(draw(rng, 0, 1000));
      auto xs = all_inputs(world.size(), [&](int r) { return rank_tensor(r, shape, seed, dtype); });
      Tensor t = xs[size_t(world.rank())].clone();
      const uint64_t before = t.version();
      world.all_reduce(t, op);
      EXPECT_GT(t.version(), before);
      if (is_integral(dtype) || op != ReduceOp::avg)
        expect_same(t, reference_reduce(xs, op, dtype));
      else
        expect_near(t, reference_reduce(xs, op, dtype), 1e-4);
    }
  }
}

TEST(MpiCollectives, AllReduceEmptyTensor) {
  Tensor t = empty({0, 3});
  test_world().all_reduce(t, ReduceOp::sum);
  EXPECT_EQ(t.numel(), 0);
}

TEST(MpiCollectives, AllGatherAlongDims) {
  comm::Communicator& world = test_world();
  auto rng = shared_rng(12);
  for (DType dtype : {DType::f32, DType::bf16, DType::i64, DType::b8}) {
    for (int64_t dim : {0, 1, -1}) {
      SCOPED_TRACE(std::string(dtype_name(dtype)) + " dim " + std::to_string(dim));
      const Shape shape{draw(rng, 1, 6), draw(rng, 1, 6), draw(rng, 1, 3)};
      const uint64_t seed = uint64_t(draw(rng, 0, 1000));
      auto xs = all_inputs(world.size(), [&](int r) {
        Tensor x = rank_tensor(r, shape, seed, DType::f32);
        return dtype == DType::b8 ? gt(x, scalar_tensor(0.0)) : x.to(dtype);
      });
      // Transposed view: the communicator makes it contiguous first.
      Tensor got = world.all_gather(non_contiguous(xs[size_t(world.rank())]), dim);
      expect_same(got, cat(xs, dim));
    }
  }
}

TEST(MpiCollectives, ReduceScatterAlongDims) {
  comm::Communicator& world = test_world();
  const int n = world.size();
  auto rng = shared_rng(13);
  for (DType dtype : {DType::f32, DType::f64, DType::i32}) {
    for (ReduceOp op : {ReduceOp::sum, ReduceOp::avg, ReduceOp::max}) {
      for (int64_t dim : {0, 1}) {
        SCOPED_TRACE(std::string(dtype_name(dtype)) + " " + comm::reduce_op_name(op) + " dim " +
                     std::to_string(dim));
        Shape shape{draw(rng, 1, 4), draw(rng, 1, 4)};
        shape[size_t(dim)] *= n;
        const uint64_t seed = uint64_t(draw(rng, 0, 1000));
        auto xs = all_inputs(n, [&](int r) { return rank_tensor(r, shape, seed, dtype); });
        Tensor got = world.reduce_scatter(non_contiguous(xs[size_t(world.rank())]), op, dim);
        const int64_t chunk = shape[size_t(dim)] / n;
        Tensor want = contiguous(reference_reduce(xs, op, dtype).narrow(dim, world.rank() * chunk, chunk));
        if (is_integral(dtype) || op != ReduceOp::avg)
          expect_same(got, want);
        else
          expect_near(got, want, 1e-4);
      }
    }
  }
}

TEST(MpiCollectives, ReduceScatterRejectsIndivisibleDim) {
  comm::Communicator& world = test_world();
  MOE_REQUIRE_MIN_RANKS(2);
  Tensor x = zeros({2, world.size() + 1});
  try {
    world.reduce_scatter(x, ReduceOp::sum, 1);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("reduce_scatter on group 'world' (rank " + std::to_string(world.rank())), std::string::npos)
        << msg;
    EXPECT_NE(msg.find("does not divide"), std::string::npos) << msg;
  }
}

TEST(MpiCollectives, BroadcastFromEveryRoot) {
  comm::Communicator& world = test_world();
  for (int root = world.size() - 1; root >= 0; --root) {
    for (DType dtype : {DType::f32, DType::bf16, DType::i64}) {
      Tensor want = rank_tensor(root, {3, 5}, 7, dtype);
      Tensor t = world.rank() == root ? want.clone() : zeros({3, 5}, dtype);
      world.broadcast(t, root);
      expect_same(t, want);
    }
  }
}

TEST(MpiCollectives, AllReduceValues) {
  comm::Communicator& world = test_world();
  const int n = world.size(), r = world.rank();
  const auto sums = comm::all_reduce_values(world, std::vector<double>{double(r), 1.5}, ReduceOp::sum);
  EXPECT_EQ(sums, (std::vector<double>{n * (n - 1) / 2.0, 1.5 * n}));
  const auto maxes = comm::all_reduce_values(world, std::vector<int64_t>{r, -r, int64_t(1) << 40}, ReduceOp::max);
  EXPECT_EQ(maxes, (std::vector<int64_t>{n - 1, 0, int64_t(1) << 40}));
  const auto avgs = comm::all_reduce_values(world, std::vector<int64_t>{r}, ReduceOp::avg);
  EXPECT_EQ(avgs[0], (n * (n - 1) / 2) / n);
  EXPECT_TRUE(comm::all_reduce_values(world, std::vector<double>{}, ReduceOp::sum).empty());
}

TEST(MpiCollectives, BarrierAndCountsExchange) {
  comm::Communicator& world = test_world();
  world.barrier();
  const int n = world.size(), r = world.rank();
  std::vector<int64_t> send(static_cast<size_t>(n));
  for (int p = 0; p < n; ++p) send[size_t(p)] = 100 * r + p;
  const std::vector<int64_t> got = world.all_to_all_counts(send);
  for (int p = 0; p < n; ++p) EXPECT_EQ(got[size_t(p)], 100 * p + r);
}

}  // namespace
}  // namespace moe::test
