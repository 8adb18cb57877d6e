// Damaged checkpoints: each error names the file and the tensor; a bad
// latest falls back to the previous committed checkpoint.
#include <filesystem>

#include "checkpoint/checkpoint.h"
#include "tests/checkpoint/ckpt_test_util.h"
#include "tests/mpi_test_util.h"

namespace moe::checkpoint {
namespace {

using testing::global_tensor;
using testing::data_offset;
using testing::flip_byte;
using testing::temp_root;

std::string save_two(const std::string& root, int64_t step) {
  std::vector<SaveTensor> ts{{"layers.0.attn.wq.weight", global_tensor({16, 8}, double(step)), {}, true},
                             {"layers.0.ffn.experts.w1", global_tensor({8, 64, 32}, double(step)), {}, true}};
  absl::StatusOr<SaveReport> r = save_checkpoint(test::test_world(), root, step, ts, {});
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? r->step_dir : "";
}

bool has(const absl::Status& st, const std::string& s) { return st.message().find(s) != std::string::npos; }

TEST(CheckpointIntegrity, CorruptedDatasetIsNamedOnVerifyAndLoad) {
  const std::string root = temp_root();
  const std::string dir = save_two(root, 1);
  const std::string file = dir + "/rank_00000.h5";
  const int64_t off = data_offset(file, "/layers.0.ffn.experts.w1");
  ASSERT_GT(off, 0);
  flip_byte(file, off + 1000);
  absl::Status v = verify_checkpoint(dir);
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(has(v, "rank_00000.h5:/layers.0.ffn.experts.w1 (tensor layers.0.ffn.experts.w1")) << v;
  EXPECT_TRUE(has(v, "checksum mismatch")) << v;
  EXPECT_FALSE(has(v, "wq.weight")) << v;  // the other tensor is fine
  EXPECT_TRUE(verify_checkpoint(dir, /*checksums=*/false).ok());  // sizes and layout still match

  absl::StatusOr<CheckpointMeta> meta = read_metadata(dir);
  ASSERT_TRUE(meta.ok());
  Tensor w1 = zeros({8, 64, 32});
  absl::Status l = load_tensor(dir, *meta, "layers.0.ffn.experts.w1", {}, w1);
  ASSERT_FALSE(l.ok());
  EXPECT_TRUE(has(l, "rank_00000.h5")) << l;
  EXPECT_TRUE(has(l, "tensor layers.0.ffn.experts.w1")) << l;
  Tensor wq = zeros({16, 8});
  EXPECT_TRUE(load_tensor(dir, *meta, "layers.0.attn.wq.weight", {}, wq).ok());
}

TEST(CheckpointIntegrity, TruncatedFileIsNamed) {
  const std::string root = temp_root();
  const std::string dir = save_two(root, 1);
  const std::string file = dir + "/rank_00000.h5";
  std::filesystem::resize_file(file, std::filesystem::file_size(file) / 2);
  absl::Status v = verify_checkpoint(dir);
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(has(v, "rank_00000.h5: ")) << v;
  EXPECT_TRUE(has(v, "(truncated)")) << v;
  EXPECT_TRUE(has(v, "layers.0.ffn.experts.w1")) << v;
  absl::StatusOr<CheckpointMeta> meta = read_metadata(dir);
  ASSERT_TRUE(meta.ok());
  Tensor wq = zeros({16, 8});
  absl::Status l = load_tensor(dir, *meta, "layers.0.attn.wq.weight", {}, wq);
  ASSERT_FALSE(l.ok());
  EXPECT_TRUE(has(l, "rank_00000.h5")) << l;
  EXPECT_TRUE(has(l, "truncated")) << l;
  EXPECT_TRUE(has(l, "layers.0.attn.wq.weight")) << l;
}

TEST(CheckpointIntegrity, MissingFileIsNamed) {
  const std::string root = temp_root();
  const std::string dir = save_two(root, 1);
  std::filesystem::remove(dir + "/rank_00000.h5");
  absl::Status v = verify_checkpoint(dir);
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(has(v, "rank_00000.h5: file missing (holds tensors layers.0.attn.wq.weight")) << v;
}

TEST(CheckpointIntegrity, CorruptedMetadataIsNamed) {
  const std::string root = temp_root();
  const std::string dir = save_two(root, 1);
  flip_byte(dir + "/metadata.pb", 10);
  absl::Status v = verify_checkpoint(dir);
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(has(v, "metadata.pb: checksum mismatch")) << v;
}

TEST(CheckpointIntegrity, ShapeMismatchNamesTensorAndBothShapes) {
  const std::string root = temp_root();
  const std::string dir = save_two(root, 1);
  absl::StatusOr<CheckpointMeta> meta = read_metadata(dir);
  ASSERT_TRUE(meta.ok());
  Tensor w1 = zeros({4, 64, 16});  // the model's EP2 slice of [8, 64, 16]
  absl::Status st = load_tensor(dir, *meta, "layers.0.ffn.experts.w1", testing::spec(0, 1, 2), w1);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "layers.0.ffn.experts.w1: checkpoint global shape [8, 64, 32], model [8, 64, 16]");
}

TEST(CheckpointIntegrity, MissingTensorAndDtypeMismatchAreNamed) {
  const std::string root = temp_root();
  const std::string dir = save_two(root, 1);
  absl::StatusOr<CheckpointMeta> meta = read_metadata(dir);
  ASSERT_TRUE(meta.ok());
  Tensor x = zeros({16, 8});
  absl::Status st = load_tensor(dir, *meta, "layers.1.attn.wq.weight", {}, x);
  EXPECT_TRUE(absl::IsNotFound(st));
  EXPECT_TRUE(has(st, "layers.1.attn.wq.weight: not in checkpoint")) << st;
  Tensor d = zeros({16, 8}, DType::f64);
  st = load_tensor(dir, *meta, "layers.0.attn.wq.weight", {}, d);
  EXPECT_TRUE(has(st, "layers.0.attn.wq.weight: checkpoint dtype f32, model f64")) << st;
}

TEST(CheckpointIntegrity, FindLoadableFallsBackToThePreviousCheckpoint) {
  const std::string root = temp_root();
  save_two(root, 1);
  const std::string dir2 = save_two(root, 2);
  absl::StatusOr<Loadable> ok = find_loadable(root, "latest");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->step_dir, dir2);
  EXPECT_TRUE(ok->rejected.empty());

  const std::string file = dir2 + "/rank_00000.h5";
  std::filesystem::resize_file(file, std::filesystem::file_size(file) - 100);
  absl::StatusOr<Loadable> back = find_loadable(root, "latest");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->step_dir, root + "/step_00000001");
  ASSERT_EQ(back->rejected.size(), 1u);
  EXPECT_NE(back->rejected[0].find("step_00000002/rank_00000.h5"), std::string::npos) << back->rejected[0];
  // The collective form (one rank here) gives the same answer.
  absl::StatusOr<Loadable> coll = find_loadable(test::test_world(), root, "latest");
  ASSERT_TRUE(coll.ok()) << coll.status();
  EXPECT_EQ(coll->step_dir, back->step_dir);
  EXPECT_EQ(coll->rejected, back->rejected);

  std::filesystem::remove(root + "/step_00000001/metadata.pb");
  absl::StatusOr<Loadable> none = find_loadable(root, "latest");
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(has(none.status(), "no loadable checkpoint")) << none.status();
}

}  // namespace
}  // namespace moe::checkpoint
