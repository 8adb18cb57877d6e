// Checkpoints in the training loop: a stopped-and-resumed run continues the
// loss sequence bitwise (one rank, and EP2 x DP2 on four), a checkpoint
// saved on one layout resumes on another with the same next-step loss
// (within 1e-6), ZeRO-1 shards included, and a resume into a different
// model names the tensor and both shapes.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>

#include "checkpoint/checkpoint.h"
#include "tests/checkpoint/ckpt_test_util.h"
#include "launch/trainer.h"
#include "tests/launch/train_test_util.h"
#include "tests/mpi_test_util.h"

namespace moe::launch {
namespace {

// A fresh directory for the job (rank 0 clears it, the others wait).
std::string fresh_dir(const std::string& dir) {
  if (test::test_world().rank() == 0) std::filesystem::remove_all(dir);
  test::test_world().barrier();
  return dir;
}

std::unique_ptr<parallel::Mesh> mesh_of(comm::Communicator& group, int tp, int ep) {
  return std::make_unique<parallel::Mesh>(group.split(0, group.rank(), "world"), tp, ep);
}

// Trains `cfg` on `mesh` (null: one rank); stop_after > 0 stops it after
// that many steps, as a signal would.
TrainResult run(const config::TrainConfig& cfg, parallel::Mesh* mesh, int64_t stop_after = 0) {
  std::atomic<bool> stop{false};
  auto on_step = [&](int64_t step) {
    if (stop_after > 0 && step + 1 == stop_after) stop.store(true);
  };
  absl::StatusOr<TrainResult> r = train(cfg, &stop, true, mesh, on_step);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : TrainResult{};
}

// The uninterrupted run against stop at step 6 + resume, bitwise; `more`:
// further overrides (BF16 moments, ZeRO-1).
void expect_exact_resume(const std::string& dir, int tp, int ep, const std::vector<std::string>& more = {}) {
  comm::Communicator& world = test::test_world();
  std::vector<std::string> sets = {"steps=12", "parallel.tp=" + std::to_string(tp), "parallel.ep=" + std::to_string(ep),
                                   "micro_batch_size=2"};
  sets.insert(sets.end(), more.begin(), more.end());
  const config::TrainConfig whole = test_util::small_run("tiny_moe_sigmoid_bias.pbtxt", dir + "/whole", sets);
  config::TrainConfig part = test_util::small_run("tiny_moe_sigmoid_bias.pbtxt", dir + "/part", sets);
  std::unique_ptr<parallel::Mesh> mesh = world.size() > 1 ? mesh_of(world, tp, ep) : nullptr;
  const TrainResult ref = run(whole, mesh.get());
  const TrainResult first = run(part, mesh.get(), 6);
  ASSERT_EQ(first.steps_done, 6);
  EXPECT_TRUE(first.interrupted);
  part.mutable_checkpoint()->set_resume_from("latest");
  const TrainResult second = run(part, mesh.get());
  ASSERT_EQ(ref.train_losses.size(), 12u);
  ASSERT_EQ(second.train_losses.size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(first.train_losses[i], ref.train_losses[i]) << "step " << i;
    EXPECT_EQ(second.train_losses[i], ref.train_losses[6 + i]) << "step " << 6 + i << " after the resume";
  }
}

TEST(Resume, OneRankContinuesBitwise) {
  if (test::test_world().size() != 1) GTEST_SKIP() << "one-rank test";
  expect_exact_resume(fresh_dir(test_util::rank_dir("resume1") + "/r"), 1, 1);
}

TEST(MpiResume, ExpertTimesDataParallelContinuesBitwise) {
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 4);
  expect_exact_resume(fresh_dir(test_util::job_dir("resume_ep2dp2")), 1, 2);  // one directory for the job
}

// BF16 moments (the checkpoint holds them as bf16): one rank, and sharded by
// ZeRO-1 over EP2 x DP2.
TEST(Resume, Bf16MomentsContinueBitwise) {
  if (test::test_world().size() != 1) GTEST_SKIP() << "one-rank test";
  expect_exact_resume(fresh_dir(test_util::rank_dir("resume_bf16") + "/r"), 1, 1, {"optim.moment_dtype=MOMENT_BF16"});
}

TEST(MpiResume, Bf16MomentsWithZero1ContinueBitwise) {
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 4);
  expect_exact_resume(fresh_dir(test_util::job_dir("resume_bf16_zero1")), 1, 2,
                      {"optim.moment_dtype=MOMENT_BF16", "parallel.zero1=true"});
}

// Delayed FP8 scaling: each FP8 weight's amax histories are buffers of the
// checkpoint (model/fp8_gemms.h), so the resumed run's scales, and losses,
// are the uninterrupted run's, bitwise: one rank, and EP2 x DP2 (the expert
// histories sliced by EP rank, every history reduced over its replicas).
// A history of 4 steps is full by the stop at step 6; without it the
// resumed step 6 would run at scale 1.
const std::vector<std::string> kFp8Delayed = {"model.fp8.recipe=FP8_PER_TENSOR_DELAYED", "model.fp8.amax_history_len=4"};

void expect_histories_saved(const std::string& root) {
  absl::StatusOr<std::string> dir = checkpoint::resolve(root, "latest");
  ASSERT_TRUE(dir.ok()) << dir.status();
  absl::StatusOr<checkpoint::CheckpointMeta> meta = checkpoint::read_metadata(*dir);
  ASSERT_TRUE(meta.ok()) << meta.status();
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& t : meta->tensors()) shapes[t.name()] = {t.global_shape().begin(), t.global_shape().end()};
  EXPECT_EQ(shapes["layers.0.attn.wq.weight.fp8_amax_history"], (std::vector<int64_t>{1, 3, 4}));
  EXPECT_EQ(shapes["layers.1.ffn.shared.w2.weight.fp8_amax_history"], (std::vector<int64_t>{1, 3, 4}));
  EXPECT_EQ(shapes["layers.1.ffn.experts.w1.fp8_amax_history"], (std::vector<int64_t>{8, 3, 4}));
}

TEST(Resume, Fp8DelayedScalingContinuesBitwise) {
  if (test::test_world().size() != 1) GTEST_SKIP() << "one-rank test";
  const std::string dir = fresh_dir(test_util::rank_dir("resume_fp8") + "/r");
  expect_exact_resume(dir, 1, 1, kFp8Delayed);
  expect_histories_saved(dir + "/part/checkpoints");
}

TEST(MpiResume, Fp8DelayedScalingContinuesBitwise) {
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 4);
  const std::string dir = fresh_dir(test_util::job_dir("resume_fp8_ep2dp2"));
  expect_exact_resume(dir, 1, 2, kFp8Delayed);
  expect_histories_saved(dir + "/part/checkpoints");
}

// Switching delayed FP8 scaling on at a resume is a config change (refused
// unless allowed); allowed, the histories the checkpoint lacks start empty.
TEST(Resume, TurningDelayedFp8OnNeedsAllowAndStartsEmptyHistories) {
  if (test::test_world().size() != 1) GTEST_SKIP() << "one-rank test";
  const std::string dir = fresh_dir(test_util::rank_dir("resume_fp8_on") + "/r");
  run(test_util::small_run("tiny_moe.pbtxt", dir, {"steps=2", "optim.schedule.warmup_steps=1"}), nullptr);
  std::vector<std::string> sets = {"steps=4", "optim.schedule.warmup_steps=1", "checkpoint.resume_from=latest",
                                   "model.fp8.recipe=FP8_PER_TENSOR_DELAYED"};
  absl::StatusOr<TrainResult> refused = train(test_util::small_run("tiny_moe.pbtxt", dir, sets), nullptr, true, nullptr);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(std::string(refused.status().message()).find("fp8"), std::string::npos) << refused.status();
  sets.push_back("checkpoint.allow_config_change=true");
  const TrainResult r = run(test_util::small_run("tiny_moe.pbtxt", dir, sets), nullptr);
  EXPECT_EQ(r.steps_done, 4);
}

// Saves after `k` steps on (tp, ep, zero1) over the whole world and returns
// the losses of steps k and k + 1 of the same run (k + 1 follows an update
// that used the saved optimizer state).
std::vector<double> save_and_continue(const std::string& dir, int tp, int ep, bool zero1, int64_t k) {
  comm::Communicator& world = test::test_world();
  config::TrainConfig cfg = test_util::small_run(
      "tiny_moe.pbtxt", dir + "/save",
      {"steps=" + std::to_string(k + 2), "optim.schedule.warmup_steps=1", "checkpoint.every_steps=" + std::to_string(k),
       "checkpoint.dir=" + dir + "/ckpt", "checkpoint.keep_every=" + std::to_string(k),
       "parallel.tp=" + std::to_string(tp), "parallel.ep=" + std::to_string(ep),
       std::string("parallel.zero1=") + (zero1 ? "true" : "false")});
  std::unique_ptr<parallel::Mesh> mesh = mesh_of(world, tp, ep);
  const TrainResult r = run(cfg, mesh.get());
  EXPECT_EQ(r.train_losses.size(), size_t(k + 2));
  return std::vector<double>(r.train_losses.end() - 2, r.train_losses.end());
}

// Resumes the checkpoint of step k on `group` with (tp, ep, zero1) and
// returns the losses of its two steps.
std::vector<double> resume_on(comm::Communicator& group, const std::string& dir, const std::string& tag, int tp, int ep,
                 bool zero1, int64_t k) {
  config::TrainConfig cfg = test_util::small_run(
      "tiny_moe.pbtxt", dir + "/resume_" + tag + "_" + std::to_string(test::test_world().rank() / group.size()),
      {"steps=" + std::to_string(k + 2), "optim.schedule.warmup_steps=1", "checkpoint.dir=" + dir + "/ckpt",
       "checkpoint.resume_from=step_" +
           std::to_string(k), "checkpoint.save=false", "parallel.tp=" + std::to_string(tp),
       "parallel.ep=" + std::to_string(ep), std::string("parallel.zero1=") + (zero1 ? "true" : "false")});
  std::unique_ptr<parallel::Mesh> mesh = group.size() > 1 ? mesh_of(group, tp, ep) : nullptr;
  const TrainResult r = run(cfg, mesh.get());
  EXPECT_EQ(r.train_losses.size(), 2u);
  return r.train_losses;
}

void expect_near(const std::vector<double>& got, const std::vector<double>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-6) << what << ", step k + " << i;
}

TEST(MpiResume, Ep4WithZero1ReshardsOntoEp2AndOneRank) {
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 4);
  comm::Communicator& world = test::test_world();
  const std::string dir = fresh_dir(test_util::job_dir("reshard_ep4"));
  const int64_t k = 4;
  const std::vector<double> want = save_and_continue(dir, 1, 4, true, k);
  // Two independent 2-rank jobs (EP2, ZeRO-1 over their DP2), then every
  // rank alone (no ZeRO-1): both read the EP4 checkpoint.
  std::unique_ptr<comm::Communicator> half = world.split(world.rank() / 2, world.rank() % 2, "half");
  expect_near(resume_on(*half, dir, "ep2", 1, 2, true, k), want, "EP4 -> EP2 (ZeRO-1)");
  std::unique_ptr<comm::Communicator> alone = world.split(world.rank(), 0, "alone");
  expect_near(resume_on(*alone, dir, "one", 1, 1, false, k), want, "EP4 -> one rank");
}

TEST(MpiResume, Tp2ReshardsOntoTp1AndEp2) {
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 2);
  comm::Communicator& world = test::test_world();
  const std::string dir = fresh_dir(test_util::job_dir("reshard_tp2"));
  const int64_t k = 4;
  const std::vector<double> want = save_and_continue(dir, 2, 1, false, k);
  expect_near(resume_on(world, dir, "ep2", 1, 2, true, k), want, "TP2 -> EP2 (ZeRO-1)");
  std::unique_ptr<comm::Communicator> alone = world.split(world.rank(), 0, "alone");
  expect_near(resume_on(*alone, dir, "tp1", 1, 1, false, k), want, "TP2 -> TP1");
}

TEST(Resume, DifferentModelNamesTheTensorAndBothShapes) {
  if (test::test_world().size() != 1) GTEST_SKIP() << "one-rank test";
  const std::string dir = test_util::rank_dir("resume_wrong");
  std::filesystem::remove_all(dir + "/r");
  config::TrainConfig cfg = test_util::small_run("tiny_moe.pbtxt", dir + "/r", {"steps=2", "optim.schedule.warmup_steps=1"});
  run(cfg, nullptr);
  config::TrainConfig other =
      test_util::small_run("tiny_moe.pbtxt", dir + "/r", {"steps=4", "optim.schedule.warmup_steps=1", "model.moe.expert_ffn_dim=16",
                                                          "checkpoint.resume_from=latest"});
  absl::StatusOr<TrainResult> r = train(other, nullptr, true, nullptr);
  ASSERT_FALSE(r.ok());
  const std::string msg(r.status().message());
  EXPECT_NE(msg.find("layers.0.ffn.experts.w1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[8, 64, 32]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[8, 64, 16]"), std::string::npos) << msg;
}

}  // namespace
}  // namespace moe::launch

namespace moe::launch {
namespace {

// Flips one byte in the middle of `file`.
void corrupt(const std::string& file) {
  checkpoint::testing::flip_byte(file, int64_t(std::filesystem::file_size(file) / 2));
}

TEST(Resume, CorruptLatestFallsBackOrStops) {
  if (test::test_world().size() != 1) GTEST_SKIP() << "one-rank test";
  const std::string dir = test_util::rank_dir("resume_corrupt") + "/r";
  std::filesystem::remove_all(dir);
  const std::vector<std::string> sets = {"steps=8", "optim.schedule.warmup_steps=1", "checkpoint.every_steps=3"};
  config::TrainConfig cfg = test_util::small_run("tiny_moe.pbtxt", dir, sets);
  cfg.set_steps(8);
  std::atomic<bool> stop{false};
  // Checkpoints at steps 3 and 6 (then stopped: the stop saves step 6 again).
  absl::StatusOr<TrainResult> first =
      train(cfg, &stop, true, nullptr, [&](int64_t s) { stop.store(s + 1 == 6); });
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->steps_done, 6);
  corrupt(dir + "/checkpoints/step_00000006/rank_00000.h5");

  cfg.mutable_checkpoint()->set_resume_from("latest");
  cfg.mutable_checkpoint()->set_on_corrupt(config::CORRUPT_STOP);
  absl::StatusOr<TrainResult> stopped = train(cfg, nullptr, true, nullptr);
  ASSERT_FALSE(stopped.ok());
  EXPECT_NE(stopped.status().message().find("rank_00000.h5"), std::string::npos) << stopped.status();

  cfg.mutable_checkpoint()->set_on_corrupt(config::CORRUPT_FALL_BACK);
  cfg.mutable_checkpoint()->set_save(false);
  absl::StatusOr<TrainResult> fell_back = train(cfg, nullptr, true, nullptr);
  ASSERT_TRUE(fell_back.ok()) << fell_back.status();
  EXPECT_EQ(fell_back->train_losses.size(), 5u) << "resumed at step 3, ran 3..7";
}

}  // namespace
}  // namespace moe::launch

namespace moe::launch {
namespace {

TEST(Resume, MinutesIntervalSavesWhenDue) {
  if (test::test_world().size() != 1) GTEST_SKIP() << "one-rank test";
  const std::string dir = test_util::rank_dir("resume_minutes") + "/r";
  std::filesystem::remove_all(dir);
  // An interval shorter than any step: due after every step. keep_last 10
  // keeps them all; every_steps 0 alone would save only at the end.
  config::TrainConfig cfg = test_util::small_run(
      "tiny_moe.pbtxt", dir, {"steps=3", "optim.schedule.warmup_steps=1", "checkpoint.every_minutes=1e-9",
                              "checkpoint.keep_last=10"});
  ASSERT_TRUE(train(cfg, nullptr, true, nullptr).ok());
  EXPECT_EQ(checkpoint::list_steps(dir + "/checkpoints").size(), 3u);
  config::TrainConfig end_only = test_util::small_run(
      "tiny_moe.pbtxt", dir + "_end", {"steps=3", "optim.schedule.warmup_steps=1", "checkpoint.keep_last=10"});
  std::filesystem::remove_all(dir + "_end");
  ASSERT_TRUE(train(end_only, nullptr, true, nullptr).ok());
  EXPECT_EQ(checkpoint::list_steps(dir + "_end/checkpoints").size(), 1u);
}

}  // namespace
}  // namespace moe::launch

namespace moe::launch {
namespace {

TEST(Resume, SameShapesOtherConfigNamesTheFields) {
  if (test::test_world().size() != 1) GTEST_SKIP() << "one-rank test";
  const std::string dir = test_util::rank_dir("resume_config") + "/r";
  std::filesystem::remove_all(dir);
  const std::vector<std::string> sets = {"steps=2", "optim.schedule.warmup_steps=1"};
  ASSERT_TRUE(train(test_util::small_run("tiny_moe.pbtxt", dir, sets), nullptr, true, nullptr).ok());
  // Same tensor shapes, other heads and seed: refused, naming both.
  config::TrainConfig other = test_util::small_run(
      "tiny_moe.pbtxt", dir, {"steps=4", "optim.schedule.warmup_steps=1", "model.n_heads=8", "seed=7",
                              "checkpoint.resume_from=latest"});
  absl::StatusOr<TrainResult> r = train(other, nullptr, true, nullptr);
  ASSERT_FALSE(r.ok());
  const std::string msg(r.status().message());
  EXPECT_NE(msg.find("n_heads"), std::string::npos) << msg;
  EXPECT_NE(msg.find("seed: checkpoint 1, this run 7"), std::string::npos) << msg;
  other.mutable_checkpoint()->set_allow_config_change(true);
  EXPECT_TRUE(train(other, nullptr, true, nullptr).ok());
}

}  // namespace
}  // namespace moe::launch
