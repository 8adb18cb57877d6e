// all_to_all_single with random per-peer row counts (zeros, a rank with an
// empty batch, a rank receiving nothing) against the rows routed locally.
#include <gtest/gtest.h>

#include "comm/communicator.h"
#include "core/error.h"
#include "tests/comm/comm_test_util.h"

namespace moe::test {
namespace {

// counts[p][q]: rows rank p sends to rank q. About a third are zero; one
// rank sends nothing at all and one receives nothing.
std::vector<std::vector<int64_t>> random_counts(int n, uint64_t seed) {
  auto rng = shared_rng(seed);
  std::vector<std::vector<int64_t>> c(static_cast<size_t>(n), std::vector<int64_t>(static_cast<size_t>(n)));
  for (auto& row : c)
    for (auto& v : row) v = draw(rng, 0, 2) == 0 ? 0 : draw(rng, 1, 5);
  const int64_t silent = draw(rng, 0, n - 1), deaf = draw(rng, 0, n - 1);
  for (int q = 0; q < n; ++q) c[size_t(silent)][size_t(q)] = 0;
  for (int p = 0; p < n; ++p) c[size_t(p)][size_t(deaf)] = 0;
  return c;
}

std::vector<int64_t> column(const std::vector<std::vector<int64_t>>& c, int q) {
  std::vector<int64_t> col;
  for (const auto& row : c) col.push_back(row[size_t(q)]);
  return col;
}

int64_t offset_of(const std::vector<int64_t>& row, int q) {
  int64_t off = 0;
  for (int i = 0; i < q; ++i) off += row[size_t(i)];
  return off;
}

// Rank p's batch: sum(counts[p]) rows of shape tail.
Tensor batch_of(int p, const std::vector<std::vector<int64_t>>& c, const Shape& tail, uint64_t seed, DType dtype) {
  Shape shape{sum_of(c[size_t(p)])};
  shape.insert(shape.end(), tail.begin(), tail.end());
  return rank_tensor(p, shape, seed, dtype);
}

// What rank r receives: from each p in order, p's rows addressed to r.
Tensor routed_to(int r, const std::vector<Tensor>& batches, const std::vector<std::vector<int64_t>>& c) {
  std::vector<Tensor> parts;
  for (size_t p = 0; p < batches.size(); ++p)
    parts.push_back(batches[p].narrow(0, offset_of(c[p], r), c[p][size_t(r)]));
  return cat(parts, 0);
}

TEST(MpiAllToAll, RandomCountsMatchLocalRouting) {
  comm::Communicator& world = test_world();
  const int n = world.size(), r = world.rank();
  // Every element size: 4 (f32), 8 (i64), 2 (bf16), 1 (f8e4m3: the FP8 dispatch's codes).
  const DType dtypes[] = {DType::f32, DType::i64, DType::bf16, DType::f8e4m3};
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    const DType dtype = dtypes[(seed - 1) % 4];
    const Shape tail = seed % 2 ? Shape{3} : Shape{2, 3};
    SCOPED_TRACE("seed " + std::to_string(seed));
    const auto c = random_counts(n, seed);
    auto batches = all_inputs(n, [&](int p) { return batch_of(p, c, tail, seed, dtype); });
    // all_to_all_counts tells each rank what it will receive.
    const std::vector<int64_t> recv = world.all_to_all_counts(c[size_t(r)]);
    EXPECT_EQ(recv, column(c, r));
    Tensor got = world.all_to_all_single(batches[size_t(r)], c[size_t(r)], recv);
    expect_same(got, routed_to(r, batches, c));
  }
}

TEST(MpiAllToAll, NonContiguousInput) {
  comm::Communicator& world = test_world();
  const int n = world.size(), r = world.rank();
  const auto c = random_counts(n, 42);
  auto batches = all_inputs(n, [&](int p) { return batch_of(p, c, {4}, 42, DType::f32); });
  Tensor got = world.all_to_all_single(non_contiguous(batches[size_t(r)]), c[size_t(r)], column(c, r));
  expect_same(got, routed_to(r, batches, c));
}

TEST(MpiAllToAll, AllEmpty) {
  comm::Communicator& world = test_world();
  const std::vector<int64_t> zero(size_t(world.size()), 0);
  Tensor got = world.all_to_all_single(empty({0, 5}), zero, zero);
  EXPECT_EQ(shape_str(got.shape()), "[0, 5]");
}

TEST(MpiAllToAll, RejectsCountsNotMatchingRows) {
  comm::Communicator& world = test_world();
  std::vector<int64_t> send(size_t(world.size()), 1);
  try {
    world.all_to_all_single(zeros({world.size() + 1, 2}), send, send);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("all_to_all_single on group 'world'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("f32[" + std::to_string(world.size() + 1) + ", 2] cpu"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace moe::test
