// TensorBoard event files: the CRC-32C of TFRecord framing, every scalar the
// metrics writer logs read back with each record's CRCs checked, the file
// version record first, and corrupt or truncated files refused by name.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>

#include "data/checksum.h"
#include "launch/metrics.h"
#include "launch/tb_event.pb.h"
#include "launch/tensorboard.h"

namespace moe::launch {
namespace {

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
void write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::string only_events_file(const std::string& dir) {
  std::string found;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    EXPECT_TRUE(found.empty()) << "a second file " << e.path();
    found = e.path().string();
  }
  EXPECT_NE(found.find("/events.out.tfevents."), std::string::npos) << found;
  return found;
}

TEST(TensorBoard, Crc32cKnownValues) {
  EXPECT_EQ(data::crc32c("123456789", 9), 0xE3069283u);  // the standard check value
  // TFRecord's mask: rotate right by 15, add 0xa282ead8 (worked by hand).
  EXPECT_EQ(data::crc32c_masked(0xE3069283u), 0xC78AB0E5u);
  EXPECT_EQ(data::crc32c("", 0), 0u);
  const std::string zeros(32, '\0');
  EXPECT_EQ(data::crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);  // RFC 3720 B.4
}

TEST(TensorBoard, EveryLoggedScalarReadsBackWithItsStep) {
  const std::string dir = testing::TempDir() + "/tb_metrics";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    MetricsWriter w(dir);
    for (int64_t s = 0; s < 3; ++s) {
      StepMetrics m;
      m.step = s;
      m.lm_loss = 5.0 - 0.5 * double(s);
      m.lr = 1e-3;
      m.grad_norm = 2.0 + double(s);
      m.tokens_per_s = 1000;
      m.aux = {{"aux_expert", 0.04}};
      m.moe = true;
      m.max_load = 2.5;
      m.dropped_pct = 1.25;
      testing::internal::CaptureStdout();
      w.step(m);
      (void)testing::internal::GetCapturedStdout();
    }
    testing::internal::CaptureStdout();
    w.eval(3, 4.25, 4.0);
    (void)testing::internal::GetCapturedStdout();
  }
  const std::string path = only_events_file(dir + "/tb");
  absl::StatusOr<std::vector<TbScalar>> got = read_tb_scalars(path);
  ASSERT_TRUE(got.ok()) << got.status().message();
  std::map<std::pair<int64_t, std::string>, float> by;
  for (const TbScalar& s : *got) by[{s.step, s.tag}] = s.value;
  auto at = [&](int64_t step, const char* tag) { return by[{step, tag}]; };
  EXPECT_EQ(got->size(), 3u * 8u + 2u);  // 8 scalars per step, 2 per evaluation
  for (int64_t s = 0; s < 3; ++s) {
    EXPECT_EQ(at(s, "train/loss"), float(5.0 - 0.5 * double(s)));
    EXPECT_EQ(at(s, "train/grad_norm"), float(2.0 + double(s)));
    EXPECT_EQ(at(s, "train/lr"), 1e-3f);
    EXPECT_EQ(at(s, "aux/aux_expert"), 0.04f);
    EXPECT_EQ(at(s, "moe/max_over_mean_load"), 2.5f);
    EXPECT_EQ(at(s, "moe/dropped_pct"), 1.25f);
    EXPECT_EQ(at(s, "perf/tokens_per_s"), 1000.0f);
    EXPECT_EQ(by.count({s, std::string("train/skipped_steps")}), 1u);
  }
  EXPECT_EQ(at(3, "val/loss"), 4.25f);
  EXPECT_EQ(at(3, "val/train_loss"), 4.0f);

  // The first record is the file version, framed as every record is.
  const std::string bytes = read(path);
  uint64_t len;
  std::memcpy(&len, bytes.data(), 8);
  tb::Event first;
  ASSERT_TRUE(first.ParseFromArray(bytes.data() + 12, int(len)));
  EXPECT_EQ(first.file_version(), "brain.Event:2");
  EXPECT_GT(first.wall_time(), 1.6e9);

  // Corruptions, each named with the file and the record's offset.
  const size_t second = 12 + len + 4;
  struct Case {
    const char* what;
    std::string bytes;
    const char* message;
  };
  std::string data_flip = bytes, len_flip = bytes;
  data_flip[second + 12 + 3] ^= 0x40;
  len_flip[second + 1] ^= 0x01;
  const Case cases[] = {{"data byte flipped", data_flip, "data CRC mismatch"},
                        {"length byte flipped", len_flip, "length CRC mismatch"},
                        {"cut inside a record", bytes.substr(0, bytes.size() - 5), "truncated data"},
                        {"cut inside a header", bytes.substr(0, second + 6), "truncated header"}};
  for (const Case& c : cases) {
    const std::string bad = dir + "/bad.tfevents";
    write(bad, c.bytes);
    const absl::StatusOr<std::vector<TbScalar>> r = read_tb_scalars(bad);
    ASSERT_FALSE(r.ok()) << c.what;
    const std::string msg(r.status().message());
    EXPECT_NE(msg.find(c.message), std::string::npos) << c.what << ": " << msg;
    EXPECT_NE(msg.find(bad), std::string::npos) << msg;
    EXPECT_NE(msg.find("record at byte"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace moe::launch
