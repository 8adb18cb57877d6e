// NcclCommunicator (comm/nccl_communicator.h) on CUDA tensors at 2, 3 and 4
// ranks, against the MPI group on the same values: reductions in every
// reducible dtype and op, gathers and scatters along dim 0 and 1,
// broadcast, send/recv, all-to-all with unequal and empty per-peer counts
// whose rows encode (source rank, token, expert) so every received row is
// checked exactly, split groups, and CPU tensors handed to the host group.
// The SIM build runs it over the NCCL shim (MPI on the streams' host
// workers); a real build without a GPU skips it.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "comm/nccl_communicator.h"
#include "core/cuda/runtime.h"
#include "core/ops.h"
#include "tests/comm/comm_test_util.h"

namespace moe::test {
namespace {

const Device kGpu = Device::cuda(0);

// One NCCL group over all ranks per process (creating it is collective, and
// every rank runs the tests in the same order).
comm::Communicator& nccl_world() {
  static std::unique_ptr<comm::Communicator> c =
      comm::nccl_communicator(test_world().split(0, test_world().rank(), "nccl"), 0);
  return *c;
}

#define SKIP_WITHOUT_NCCL_DEVICE()                                                   \
  if (!comm::nccl_available() || cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device or NCCL in this build"

void expect_equal_on_host(const Tensor& device_result, const Tensor& want, const std::string& what) {
  ASSERT_TRUE(device_result.device().is_cuda()) << what;
  const Tensor got = host_copy(device_result);
  ASSERT_EQ(shape_str(got.shape()), shape_str(want.shape())) << what;
  EXPECT_EQ(got.dtype(), want.dtype()) << what;
  EXPECT_EQ(got.to_vector(), want.to_vector()) << what;
}

TEST(MpiNccl, ReductionsGathersScattersAndBroadcastEqualTheMpiGroup) {
  SKIP_WITHOUT_NCCL_DEVICE();
  comm::Communicator& nc = nccl_world();
  comm::Communicator& mpi = test_world();
  const int n = nc.size(), r = nc.rank();
  EXPECT_EQ(n, mpi.size());
  EXPECT_EQ(r, mpi.rank());
  uint64_t seed = 1;
  for (DType t : {DType::f32, DType::f64, DType::i32, DType::i64})
    for (comm::ReduceOp op : {comm::ReduceOp::sum, comm::ReduceOp::avg, comm::ReduceOp::max}) {
      const std::string what = std::string(dtype_name(t)) + " op " + std::to_string(int(op));
      const Tensor x = rank_tensor(r, {2 * n, 3}, seed++, t);
      Tensor want = x.clone(), got = x.to(kGpu);
      mpi.all_reduce(want, op);
      nc.all_reduce(got, op);
      expect_equal_on_host(got, want, "all_reduce " + what);
      for (int64_t dim : {0, 1}) {
        const Tensor xs = rank_tensor(r, {2 * n, 3 * n}, seed++, t);
        expect_equal_on_host(nc.reduce_scatter(xs.to(kGpu), op, dim), mpi.reduce_scatter(xs, op, dim),
                             "reduce_scatter dim " + std::to_string(dim) + " " + what);
      }
    }
  for (DType t : {DType::f32, DType::bf16, DType::i64, DType::f8e4m3})
    for (int64_t dim : {0, 1}) {
      const Tensor x = rank_tensor(r, {3, 2}, seed++, DType::f32).to(t);
      expect_equal_on_host(nc.all_gather(x.to(kGpu), dim), mpi.all_gather(x, dim),
                           std::string("all_gather ") + dtype_name(t) + " dim " + std::to_string(dim));
    }
  Tensor b = rank_tensor(r, {5, 4}, seed, DType::f32).to(kGpu), want = rank_tensor(n - 1, {5, 4}, seed, DType::f32);
  nc.broadcast(b, n - 1);
  expect_equal_on_host(b, want, "broadcast from the last rank");
}

// Row i of rank p's batch for rank q: (p, token, expert) with token = i and
// expert = q * 10 + i % 7, in f32 (exact) or i64.
Tensor payload(int p, int q, int64_t rows, DType t) {
  std::vector<double> v;
  for (int64_t i = 0; i < rows; ++i) {
    v.push_back(double(p));
    v.push_back(double(i));
    v.push_back(double(q * 10 + i % 7));
  }
  return from_vector(v, {rows, 3}, DType::f64).to(t);
}

TEST(MpiNccl, AllToAllDeliversEveryRowFromItsSource) {
  SKIP_WITHOUT_NCCL_DEVICE();
  comm::Communicator& nc = nccl_world();
  const int n = nc.size(), r = nc.rank();
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    auto rng = shared_rng(seed);
    std::vector<std::vector<int64_t>> c(static_cast<size_t>(n), std::vector<int64_t>(static_cast<size_t>(n)));
    for (auto& row : c)
      for (auto& v : row) v = draw(rng, 0, 2) == 0 ? 0 : draw(rng, 1, 4);
    const int silent = int(draw(rng, 0, n - 1));
    for (auto& v : c[size_t(silent)]) v = 0;  // a rank with an empty batch
    const DType t = seed % 2 ? DType::f32 : DType::i64;
    std::vector<Tensor> mine;
    std::vector<int64_t> send, recv;
    for (int q = 0; q < n; ++q) {
      mine.push_back(payload(r, q, c[size_t(r)][size_t(q)], t));
      send.push_back(c[size_t(r)][size_t(q)]);
      recv.push_back(c[size_t(q)][size_t(r)]);
    }
    const Tensor got = host_copy(nc.all_to_all_single(cat(mine, 0).to(kGpu), send, recv));
    std::vector<Tensor> want;
    for (int p = 0; p < n; ++p) want.push_back(payload(p, r, c[size_t(p)][size_t(r)], t));
    const Tensor w = cat(want, 0);
    ASSERT_EQ(shape_str(got.shape()), shape_str(w.shape())) << "seed " << seed;
    EXPECT_EQ(got.to_vector(), w.to_vector()) << "seed " << seed;
  }
}

TEST(MpiNccl, SplitGroupsPointToPointAndCpuTensors) {
  SKIP_WITHOUT_NCCL_DEVICE();
  MOE_REQUIRE_MIN_RANKS(2);
  comm::Communicator& nc = nccl_world();
  const int n = nc.size(), r = nc.rank();
  // Even and odd ranks: each half sums its members' ranks.
  std::unique_ptr<comm::Communicator> half = nc.split(r % 2, r, "half");
  Tensor x = full({4}, double(r), DType::f32, kGpu);
  half->all_reduce(x, comm::ReduceOp::sum);
  double want = 0;
  for (int q = r % 2; q < n; q += 2) want += q;
  EXPECT_EQ(host_copy(x).to_vector(), std::vector<double>(4, want));
  // A ring of sends: rank r gets rank r - 1's tensor.
  const Tensor mine = full({2, 3}, double(r + 1), DType::f64, kGpu);
  Tensor from = empty({2, 3}, DType::f64, kGpu);
  if (r % 2 == 0) {
    nc.send(mine, (r + 1) % n);
    nc.recv(from, (r + n - 1) % n);
  } else {
    nc.recv(from, (r + n - 1) % n);
    nc.send(mine, (r + 1) % n);
  }
  EXPECT_EQ(host_copy(from).to_vector(), std::vector<double>(6, double((r + n - 1) % n + 1)));
  // CPU tensors take the host group, unchanged.
  Tensor cpu = full({3}, 1.0, DType::f64);
  nc.all_reduce(cpu, comm::ReduceOp::sum);
  EXPECT_TRUE(cpu.device().is_cpu());
  EXPECT_EQ(cpu.to_vector(), std::vector<double>(3, double(n)));
  EXPECT_EQ(nc.all_to_all_counts(std::vector<int64_t>(size_t(n), r)), [&] {
    std::vector<int64_t> v;
    for (int q = 0; q < n; ++q) v.push_back(q);
    return v;
  }());
}

}  // namespace
}  // namespace moe::test
