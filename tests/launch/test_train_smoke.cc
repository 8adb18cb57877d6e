// 200 training steps of the tiny MoE config on the bundled corpus: the
// validation loss must fall below 2.6 nats/byte, which no model without
// context can reach (the corpus' byte unigram entropy is 3.31 nats; an
// untrained model scores ln 256 = 5.55), and the loop must report balanced,
// finite statistics.
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

namespace moe::launch {
namespace {

std::string prepare_corpus(const std::string& dir) {
  std::ifstream f(std::string(MOE_SOURCE_DIR) + "/data/corpus/tinyshakespeare.txt", std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string text = ss.str();
  EXPECT_EQ(text.size(), 1115394u);
  data::ByteTokenizer tok;
  auto [train, val] = data::split_train_val(data::encode_documents(tok, data::split_documents(text)), 0.1);
  const std::string path = dir + "/ts_byte.h5";
  const std::vector<data::TokenSplit> splits{train, val};
  EXPECT_TRUE(data::write_token_dataset(path, tok, splits).ok());
  return path;
}

TEST(TrainSmoke, TinyMoeLearnsInTwoHundredSteps) {
  const std::string dir = testing::TempDir() + "/train_smoke";
  std::filesystem::create_directories(dir);
  const std::string data = prepare_corpus(dir);
  absl::StatusOr<config::TrainConfig> cfg = load_train_config(
      std::string(MOE_SOURCE_DIR) + "/configs/tiny_moe.pbtxt",
      {"steps=200", "optim.schedule.warmup_steps=20", "eval_every=200", "eval_batches=8", "log_every=1000", "threads=1",
       "data.path=" + data, "run_dir=" + dir + "/run"});
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  absl::StatusOr<TrainResult> r = train(*cfg, nullptr, /*quiet=*/true);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->steps_done, 200);
  EXPECT_LT(r->last_val_loss, 2.6);
  EXPECT_GT(r->last_val_loss, 0.5);
  EXPECT_TRUE(std::filesystem::exists(dir + "/run/config.pbtxt"));
}

// MuonClip in the loop, with GQA and with MLA (queries projected directly
// or through a latent): a threshold far under the initial logits clips
// every step and training still runs; the losses after step 0 differ
// from an unclipped run's, so the clip reached the weights.
TEST(TrainSmoke, MuonWithQkClip) {
  const std::string dir = testing::TempDir() + "/train_qkclip";
  std::filesystem::create_directories(dir);
  const std::string data = prepare_corpus(dir);
  auto run = [&](const std::string& config, const std::string& name,
                 const std::vector<std::string>& extra) -> std::vector<double> {
    std::vector<std::string> sets = {"steps=3", "optim.schedule.warmup_steps=1", "eval_every=0", "log_every=1000",
                                     "threads=1", "optim.kind=OPTIMIZER_MUON", "data.path=" + data,
                                     "run_dir=" + dir + "/" + name};
    sets.insert(sets.end(), extra.begin(), extra.end());
    absl::StatusOr<config::TrainConfig> cfg =
        load_train_config(std::string(MOE_SOURCE_DIR) + "/configs/" + config, sets);
    if (!cfg.ok()) {
      ADD_FAILURE() << name << ": " << cfg.status().message();
      return {};
    }
    absl::StatusOr<TrainResult> r = train(*cfg, nullptr, true);
    if (!r.ok()) {
      ADD_FAILURE() << name << ": " << r.status().message();
      return {};
    }
    EXPECT_EQ(r->steps_done, 3) << name;
    EXPECT_TRUE(std::isfinite(r->last_train_loss)) << name;
    return r->train_losses;
  };
  struct Case {
    const char* config;
    const char* name;
    std::vector<std::string> sets;
  };
  for (const Case& c : {Case{"tiny_moe.pbtxt", "gqa", {}}, Case{"tiny_mla_moe.pbtxt", "mla", {}},
                        Case{"tiny_mla_moe.pbtxt", "mla_q_lora", {"model.mla.q_lora_rank=32"}}}) {
    std::vector<std::string> clip_sets = c.sets;
    clip_sets.push_back("optim.muon.qk_clip_threshold=0.02");
    const std::vector<double> plain = run(c.config, std::string(c.name) + "_plain", c.sets);
    const std::vector<double> clipped = run(c.config, std::string(c.name) + "_clip", clip_sets);
    ASSERT_EQ(plain.size(), 3u) << c.name;
    ASSERT_EQ(clipped.size(), 3u) << c.name;
    EXPECT_EQ(clipped[0], plain[0]) << c.name;
    EXPECT_NE(clipped[2], plain[2]) << c.name;
  }
}

TEST(TrainSmoke, MissingDatasetIsAClearError) {
  absl::StatusOr<config::TrainConfig> cfg = load_train_config(
      std::string(MOE_SOURCE_DIR) + "/configs/tiny_moe.pbtxt", {"data.path=/nonexistent/x.h5", "steps=1", "optim.schedule.warmup_steps=0"});
  ASSERT_TRUE(cfg.ok());
  absl::StatusOr<TrainResult> r = train(*cfg, nullptr, true);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.status().message()).find("/nonexistent/x.h5"), std::string::npos) << r.status();
}

}  // namespace
}  // namespace moe::launch
