// Collective saves under mpirun (np 2 and 4): each rank writes its own file,
// then every rank loads another split; a failure on one rank commits
// nothing and reaches every rank.
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#include "checkpoint/checkpoint.h"
#include "checkpoint/exchange.h"
#include "tests/checkpoint/ckpt_test_util.h"
#include "tests/mpi_test_util.h"

namespace moe::checkpoint {
namespace {

using parallel::ParamClass;
using testing::bitwise_equal;
using testing::global_tensor;
using testing::load_slice;
using testing::slice_of;
using testing::spec;

// Rank 0's fresh directory, the same path on every rank.
std::string shared_root(comm::Communicator& w) {
  return all_gather_strings(w, w.rank() == 0 ? testing::temp_root() : "")[0];
}

struct Globals {
  Tensor experts, dense, norm;
  explicit Globals(int n)
      : experts(global_tensor({2 * n, 3, 2}, 1)), dense(global_tensor({4, 2 * n}, 50)), norm(global_tensor({5}, 9)) {}
};

std::vector<SaveTensor> my_tensors(const Globals& g, int r, int n) {
  return {{"ffn.experts.w1", slice_of(g.experts, 0, r, n), spec(0, r, n), true},
          {"attn.wq.weight", slice_of(g.dense, 1, r, n), spec(1, r, n, ParamClass::tp_sharded), true},
          {"norm.weight", g.norm, {}, r == 0}};
}

TEST(MpiCheckpoint, EachRankWritesItsFileThenLoadsAnotherSplit) {
  MOE_REQUIRE_MIN_RANKS(2);
  comm::Communicator& w = test::test_world();
  const int n = w.size(), r = w.rank();
  const std::string root = shared_root(w);
  const Globals g(n);
  CheckpointMeta meta;
  meta.mutable_layout()->set_world(n);
  meta.mutable_layout()->set_ep(n);
  absl::StatusOr<SaveReport> rep = save_checkpoint(w, root, 7, my_tensors(g, r, n), meta);
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_GT(rep->bytes_written, 0);
  EXPECT_TRUE(std::filesystem::exists(rep->step_dir + "/" + absl::StrFormat("rank_%05d.h5", r)));

  absl::StatusOr<CheckpointMeta> m = read_metadata(rep->step_dir);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->files_size(), n);
  EXPECT_EQ(find_tensor(*m, "ffn.experts.w1")->slices_size(), n);
  EXPECT_EQ(find_tensor(*m, "norm.weight")->slices_size(), 1);
  if (r == 0) {
    EXPECT_TRUE(verify_checkpoint(rep->step_dir).ok()) << verify_checkpoint(rep->step_dir);
  }

  // Another split: the experts of rank n-1-r, split in n/2 (or whole),
  // the TP-split weight split along the other dimension.
  const int half = n / 2;
  absl::StatusOr<Tensor> e = load_slice(rep->step_dir, "ffn.experts.w1", {2 * n, 3, 2}, 0, n - 1 - r, n);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_TRUE(bitwise_equal(*e, slice_of(g.experts, 0, n - 1 - r, n)));
  absl::StatusOr<Tensor> e2 = load_slice(rep->step_dir, "ffn.experts.w1", {2 * n, 3, 2}, 0, r % half, half);
  ASSERT_TRUE(e2.ok()) << e2.status();
  EXPECT_TRUE(bitwise_equal(*e2, slice_of(g.experts, 0, r % half, half)));
  absl::StatusOr<Tensor> d = load_slice(rep->step_dir, "attn.wq.weight", {4, 2 * n}, 0, r, n);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(bitwise_equal(*d, slice_of(g.dense, 0, r, n)));
  absl::StatusOr<Tensor> nm = load_slice(rep->step_dir, "norm.weight", {5}, -1, 0, 1);
  ASSERT_TRUE(nm.ok()) << nm.status();
  EXPECT_TRUE(bitwise_equal(*nm, g.norm));

  absl::StatusOr<Loadable> l = find_loadable(w, root, "latest");
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->step_dir, rep->step_dir);
  w.barrier();  // nobody reads while rank 0's later tests reuse the tree
}

TEST(MpiCheckpoint, AFailureOnOneRankCommitsNothingAndReachesEveryRank) {
  MOE_REQUIRE_MIN_RANKS(2);
  comm::Communicator& w = test::test_world();
  const int n = w.size(), r = w.rank();
  const std::string root = shared_root(w);
  const Globals g(n);
  ASSERT_TRUE(save_checkpoint(w, root, 1, my_tensors(g, r, n), {}).ok());
  std::vector<SaveTensor> ts = my_tensors(g, r, n);
  if (r == n - 1) ts.push_back({"broken", Tensor(), {}, true});  // undefined: this rank's write fails
  absl::StatusOr<SaveReport> rep = save_checkpoint(w, root, 2, ts, {});
  ASSERT_FALSE(rep.ok());
  EXPECT_NE(rep.status().message().find(absl::StrCat("rank ", n - 1, ": ")), std::string::npos) << rep.status();
  EXPECT_NE(rep.status().message().find("broken"), std::string::npos) << rep.status();
  w.barrier();
  EXPECT_EQ(*resolve(root, "latest"), root + "/step_00000001");
  EXPECT_FALSE(std::filesystem::exists(root + "/step_00000002"));
  EXPECT_FALSE(std::filesystem::exists(root + "/.tmp_step_00000002"));

  // Two ranks marking themselves writers of one replicated tensor.
  std::vector<SaveTensor> dup = my_tensors(g, r, n);
  dup[2].write = true;
  rep = save_checkpoint(w, root, 3, dup, {});
  ASSERT_FALSE(rep.ok());
  EXPECT_NE(rep.status().message().find("norm.weight: ranks 0 and 1 both wrote"), std::string::npos) << rep.status();
  w.barrier();
  EXPECT_EQ(*resolve(root, "latest"), root + "/step_00000001");
  w.barrier();
}

}  // namespace
}  // namespace moe::checkpoint
