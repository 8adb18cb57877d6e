// One-rank saves: every dtype back bit for bit, the metadata, naming.
#include <filesystem>

#include "checkpoint/checkpoint.h"
#include "checkpoint/slice_file.h"
#include "tests/checkpoint/ckpt_test_util.h"
#include "tests/mpi_test_util.h"

namespace moe::checkpoint {
namespace {

using testing::bitwise_equal;
using testing::global_tensor;
using testing::temp_root;

CheckpointMeta sample_meta() {
  CheckpointMeta m;
  m.set_tokens_seen(12345);
  m.mutable_layout()->set_world(1);
  m.mutable_layout()->set_tp(1);
  m.mutable_layout()->set_ep(1);
  m.mutable_layout()->set_dp(1);
  m.set_config_text("steps: 10\n");
  m.set_code_version("test");
  (*m.mutable_rng_seeds())["data"] = 7;
  (*m.mutable_extra())["lr_schedule"] = "warmup_cosine";
  return m;
}

TEST(CheckpointRoundTrip, EveryDtypeBitForBit) {
  const std::string root = temp_root();
  std::vector<SaveTensor> ts;
  int k = 0;
  for (DType t : {DType::f32, DType::f64, DType::bf16, DType::f16, DType::f8e4m3, DType::i32, DType::i64})
    ts.push_back({std::string("t.") + dtype_name(t), global_tensor({3, 5}, k++, t), {}, true});
  Tensor step = zeros({}, DType::i64);
  *step.data<int64_t>() = 42;
  ts.push_back({"opt.w.step", step, {}, true});
  ts.push_back({"empty", zeros({0, 4}), {}, true});
  ts.push_back({"skipped", zeros({2}), {}, false});  // write = false: not stored
  absl::StatusOr<SaveReport> rep = save_checkpoint(test::test_world(), root, 3, ts, sample_meta());
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_EQ(rep->step_dir, root + "/step_00000003");
  EXPECT_GT(rep->bytes_written, 0);
  ASSERT_TRUE(verify_checkpoint(rep->step_dir).ok()) << verify_checkpoint(rep->step_dir);

  absl::StatusOr<CheckpointMeta> meta = read_metadata(rep->step_dir);
  ASSERT_TRUE(meta.ok()) << meta.status();
  EXPECT_EQ(find_tensor(*meta, "skipped"), nullptr);
  for (const SaveTensor& t : ts) {
    if (!t.write) continue;
    Tensor into = zeros(t.local.shape(), t.local.dtype());
    ASSERT_TRUE(load_tensor(rep->step_dir, *meta, t.name, {}, into).ok()) << t.name;
    EXPECT_TRUE(bitwise_equal(into, t.local)) << t.name;
  }
}

TEST(CheckpointRoundTrip, MetadataAndNaming) {
  const std::string root = temp_root();
  std::vector<SaveTensor> ts{{"w", global_tensor({4, 2}), {}, true}};
  ASSERT_TRUE(save_checkpoint(test::test_world(), root, 5, ts, sample_meta()).ok());
  ASSERT_TRUE(save_checkpoint(test::test_world(), root, 12, ts, sample_meta()).ok());
  absl::StatusOr<CheckpointMeta> m = read_metadata(root + "/step_00000012");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->step(), 12);
  EXPECT_EQ(m->format_version(), kFormatVersion);
  EXPECT_EQ(m->tokens_seen(), 12345);
  EXPECT_EQ(m->config_text(), "steps: 10\n");
  EXPECT_EQ(m->rng_seeds().at("data"), 7u);
  EXPECT_EQ(m->extra().at("lr_schedule"), "warmup_cosine");
  ASSERT_EQ(m->files_size(), 1);
  EXPECT_EQ(m->files(0).name(), "rank_00000.h5");
  ASSERT_EQ(m->tensors_size(), 1);
  EXPECT_EQ(m->tensors(0).slices(0).dataset(), "/w");

  EXPECT_EQ(list_steps(root), (std::vector<std::string>{root + "/step_00000005", root + "/step_00000012"}));
  EXPECT_EQ(*resolve(root, "latest"), root + "/step_00000012");
  EXPECT_EQ(*resolve(root, ""), root + "/step_00000012");
  EXPECT_EQ(*resolve(root, "step_5"), root + "/step_00000005");
  EXPECT_EQ(*resolve(root, "5"), root + "/step_00000005");
  EXPECT_EQ(*resolve("", root), root + "/step_00000012");  // a root: its latest
  EXPECT_EQ(*resolve("", root + "/step_00000005"), root + "/step_00000005");
  absl::StatusOr<std::string> none = resolve(root, "step_7");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("step_00000005, step_00000012"), std::string::npos) << none.status();
  EXPECT_FALSE(resolve(temp_root("empty"), "latest").ok());
}

TEST(CheckpointRoundTrip, SavingAnExistingStepReplacesIt) {
  const std::string root = temp_root();
  ASSERT_TRUE(save_checkpoint(test::test_world(), root, 5, {{"w", global_tensor({2}, 1), {}, true}}, {}).ok());
  ASSERT_TRUE(save_checkpoint(test::test_world(), root, 5, {{"w", global_tensor({2}, 9), {}, true}}, {}).ok());
  absl::StatusOr<Tensor> w = testing::load_slice(root + "/step_00000005", "w", {2}, -1, 0, 1);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_TRUE(bitwise_equal(*w, global_tensor({2}, 9)));
  EXPECT_EQ(list_steps(root).size(), 1u);
  for (const auto& e : std::filesystem::directory_iterator(root))
    EXPECT_NE(e.path().filename().string()[0], '.') << "leftover " << e.path();
}

TEST(CheckpointRoundTrip, InspectShowsStepLayoutTensorsAndChecksums) {
  const std::string root = temp_root();
  ASSERT_TRUE(save_checkpoint(test::test_world(), root, 8,
                              {{"layers.0.ffn.experts.w1", global_tensor({4, 3}), {}, true}}, sample_meta())
                  .ok());
  absl::StatusOr<std::string> text = inspect(root + "/step_00000008");
  ASSERT_TRUE(text.ok()) << text.status();
  for (const char* want : {"step 8, tokens seen 12345", "world 1, dp 1, tp 1, ep 1, zero1 off",
                           "layers.0.ffn.experts.w1 f32[4, 3], 48 bytes, 1 slice(s)", "rank_00000.h5:/layers.0.ffn.experts.w1",
                           "fnv1a64 ", "rng data: 7", "config:\nsteps: 10"})
    EXPECT_NE(text->find(want), std::string::npos) << want << "\n" << *text;
}

TEST(CheckpointRoundTrip, LoadsIntoAParameterThatRequiresGrad) {
  const std::string root = temp_root();
  ASSERT_TRUE(save_checkpoint(test::test_world(), root, 1, {{"w", global_tensor({3}, 2), {}, true}}, {}).ok());
  Tensor p = zeros({3});
  p.set_requires_grad(true);
  absl::StatusOr<CheckpointMeta> meta = read_metadata(root + "/step_00000001");
  ASSERT_TRUE(meta.ok());
  ASSERT_TRUE(load_tensor(root + "/step_00000001", *meta, "w", {}, p).ok());
  EXPECT_TRUE(bitwise_equal(p.detach(), global_tensor({3}, 2)));
}

}  // namespace
}  // namespace moe::checkpoint
