#pragma once
// Shared by the launch tests that train: the bundled corpus as an HDF5
// dataset (one copy per rank: no two ranks write one file) and a small,
// fast variant of a config.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "data/byte_tokenizer.h"
#include "data/hdf5_dataset.h"
#include "data/prepare.h"
#include "launch/config.h"
#include "tests/mpi_test_util.h"

namespace moe::launch::test_util {

// A directory of this job's: ctest runs test programs (and the same program
// at several world sizes) at once, so names carry the world size, and
// job_dir / rank_dir a per-job tag (rank 0's pid, agreed over the world).
inline std::string job_tag() {
  static const std::string tag = [] {
    comm::Communicator& w = moe::test::test_world();
    const int64_t pid = comm::all_reduce_values(w, std::vector<int64_t>{w.rank() == 0 ? int64_t(::getpid()) : 0},
                                                comm::ReduceOp::sum)[0];
    return "np" + std::to_string(w.size()) + "_" + std::to_string(pid);
  }();
  return tag;
}
inline std::string job_dir(const std::string& name) {
  const std::string dir = testing::TempDir() + "/" + name + "_" + job_tag();
  std::filesystem::create_directories(dir);
  return dir;
}
inline std::string rank_dir(const std::string& name) {
  return job_dir(name + "_rank" + std::to_string(moe::test::test_world().rank()));
}

inline std::string prepare_corpus() {
  const std::string path = rank_dir("corpus") + "/ts_byte.h5";
  if (std::filesystem::exists(path)) return path;
  std::ifstream f(std::string(MOE_SOURCE_DIR) + "/data/corpus/tinyshakespeare.txt", std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  data::ByteTokenizer tok;
  auto [train, val] = data::split_train_val(data::encode_documents(tok, data::split_documents(ss.str())), 0.1);
  EXPECT_TRUE(data::write_token_dataset(path, tok, std::vector<data::TokenSplit>{train, val}).ok());
  return path;
}

// configs/<base> shrunk to a ~0.1 s step, with `sets` on top.
inline config::TrainConfig small_run(const std::string& base, const std::string& run_dir,
                                     std::vector<std::string> sets) {
  std::vector<std::string> all = {"steps=50", "optim.schedule.warmup_steps=5", "eval_every=0", "log_every=1000",
                                  "threads=1", "model.d_model=64", "model.n_layers=2", "seq_len=32",
                                  "global_batch_size=8", "model.moe.expert_ffn_dim=32", "model.ffn_dim=128",
                                  "data.path=" + prepare_corpus(), "run_dir=" + run_dir};
  all.insert(all.end(), sets.begin(), sets.end());
  absl::StatusOr<config::TrainConfig> cfg = load_train_config(std::string(MOE_SOURCE_DIR) + "/configs/" + base, all);
  EXPECT_TRUE(cfg.ok()) << cfg.status();
  return *cfg;
}

}  // namespace moe::launch::test_util
