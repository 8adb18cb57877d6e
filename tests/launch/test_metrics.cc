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

// The log line and the JSON record carry elapsed time and the ETA when the
// trainer knows them, in compact units.
TEST(Metrics, ElapsedAndEtaInTheLogLineAndTheRecord) {
  EXPECT_EQ(format_duration(0), "0s");
  EXPECT_EQ(format_duration(44.6), "45s");
  EXPECT_EQ(format_duration(187), "3m07s");
  EXPECT_EQ(format_duration(7530), "2h05m");
  const std::string dir = testing::TempDir() + "/metrics_eta";
  std::filesystem::create_directories(dir);
  {
    MetricsWriter w(dir);
    StepMetrics m;
    m.step = 3;
    m.elapsed_s = 62;
    m.eta_s = 3725;
    testing::internal::CaptureStdout();
    w.step(m);
    const std::string line = testing::internal::GetCapturedStdout();
    EXPECT_NE(line.find("| elapsed 1m02s | eta 1h02m |"), std::string::npos) << line;
    StepMetrics unknown;
    testing::internal::CaptureStdout();
    w.step(unknown);
    EXPECT_EQ(testing::internal::GetCapturedStdout().find("eta"), std::string::npos);
  }
  const std::string json = read(dir + "/metrics.jsonl");
  EXPECT_NE(json.find("\"elapsed_s\": 62.0, \"eta_s\": 3725.0"), std::string::npos) << json;
}

}  // namespace
}  // namespace moe::launch
