// Whole training runs on a mesh against the same run on one rank: the loss
// of every step must agree (within 1e-4) over 50 steps, with expert
// parallelism folded into data parallelism, tensor parallelism, gradient
// accumulation, ZeRO-1 and aux-loss-free bias updates.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/byte_tokenizer.h"
#include "data/hdf5_dataset.h"
#include "data/prepare.h"
#include "launch/config.h"
#include "launch/trainer.h"
#include "tests/mpi_test_util.h"

namespace moe::launch {
namespace {

// Each rank writes its own copy: no two ranks write one file.
std::string prepare_corpus() {
  const std::string dir = testing::TempDir() + "/dist_train_rank" + std::to_string(test::test_world().rank());
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/ts_byte.h5";
  if (std::filesystem::exists(path)) return path;
  std::ifstream f(std::string(MOE_SOURCE_DIR) + "/data/corpus/tinyshakespeare.txt", std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  data::ByteTokenizer tok;
  auto [train, val] = data::split_train_val(data::encode_documents(tok, data::split_documents(ss.str())), 0.1);
  EXPECT_TRUE(data::write_token_dataset(path, tok, std::vector<data::TokenSplit>{train, val}).ok());
  return path;
}

config::TrainConfig small_run(const std::string& base, std::vector<std::string> sets) {
  const std::string data = prepare_corpus();
  std::vector<std::string> all = {"steps=50", "optim.schedule.warmup_steps=5", "eval_every=0", "log_every=1000",
                                  "threads=1", "model.d_model=64", "model.n_layers=2", "seq_len=32",
                                  "global_batch_size=8", "model.moe.expert_ffn_dim=32", "model.ffn_dim=128",
                                  "data.path=" + data,
                                  "run_dir=" + testing::TempDir() + "/dist_run" +
                                      std::to_string(test::test_world().rank())};
  all.insert(all.end(), sets.begin(), sets.end());
  absl::StatusOr<config::TrainConfig> cfg = load_train_config(std::string(MOE_SOURCE_DIR) + "/configs/" + base, all);
  EXPECT_TRUE(cfg.ok()) << cfg.status();
  return *cfg;
}

void expect_same_curve(config::TrainConfig cfg, int tp, int ep) {
  comm::Communicator& world = test::test_world();
  absl::StatusOr<TrainResult> ref = train(cfg, nullptr, true, nullptr);
  ASSERT_TRUE(ref.ok()) << ref.status();
  cfg.mutable_parallel()->set_tp(tp);
  cfg.mutable_parallel()->set_ep(ep);
  parallel::Mesh mesh(world.split(0, world.rank(), "world"), tp, ep);
  absl::StatusOr<TrainResult> got = train(cfg, nullptr, true, &mesh);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->train_losses.size(), ref->train_losses.size());
  double worst = 0;
  for (size_t s = 0; s < ref->train_losses.size(); ++s) {
    worst = std::max(worst, std::abs(got->train_losses[s] - ref->train_losses[s]));
    EXPECT_NEAR(got->train_losses[s], ref->train_losses[s], 1e-4) << "step " << s;
  }
  EXPECT_LT(ref->train_losses.back(), ref->train_losses.front() - 0.5) << "the run must learn to mean anything";
  if (world.rank() == 0) std::printf("worst |loss difference| over %zu steps: %.3g\n", ref->train_losses.size(), worst);
}

TEST(MpiTraining, ExpertParallelFoldedIntoDataParallel) {
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 2 || MOE_WORLD_SIZE == 4);
  expect_same_curve(small_run("tiny_moe.pbtxt", {}), 1, 2);  // world 4: DP4 x EP2 (EDP2)
}

TEST(MpiTraining, TensorAndExpertParallelWithAccumulation) {
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 4);
  expect_same_curve(small_run("tiny_moe.pbtxt", {"micro_batch_size=2"}), 2, 2);
}

TEST(MpiTraining, Zero1WithSelectionBias) {
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 2);
  expect_same_curve(small_run("tiny_moe_sigmoid_bias.pbtxt", {"parallel.zero1=true", "micro_batch_size=2"}), 1, 2);
}

}  // namespace
}  // namespace moe::launch
