// metrics.jsonl on a resumed run keeps the records of the steps before the
// checkpoint only: a crashed run may have logged steps it then lost.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "launch/metrics.h"

namespace moe::launch {
namespace {

std::string read(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(Metrics, ResumeDropsRecordsFromTheCheckpointOn) {
  const std::string dir = testing::TempDir() + "/metrics_resume";
  std::filesystem::create_directories(dir);
  {
    MetricsWriter w(dir);
    for (int64_t s = 0; s < 8; ++s) {
      StepMetrics m;
      m.step = s;
      w.step(m);
      if ((s + 1) % 4 == 0) w.eval(s + 1, 2.0, 2.5);
    }
  }
  { MetricsWriter resumed(dir, 5); }  // the last checkpoint was after 5 steps
  const std::string kept = read(dir + "/metrics.jsonl");
  for (int s = 0; s < 5; ++s)
    EXPECT_NE(kept.find("{\"step\": " + std::to_string(s) + ", \"lm_loss\""), std::string::npos) << s;
  EXPECT_EQ(kept.find("{\"step\": 5, \"lm_loss\""), std::string::npos) << kept;
  EXPECT_EQ(kept.find("{\"step\": 7,"), std::string::npos) << kept;
  EXPECT_NE(kept.find("{\"step\": 4, \"eval_train_loss\""), std::string::npos) << kept;  // eval after 4 steps
  EXPECT_EQ(kept.find("{\"step\": 8, \"eval_train_loss\""), std::string::npos) << kept;
}

}  // namespace
}  // namespace moe::launch
