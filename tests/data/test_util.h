#pragma once
// Helpers shared by the data tests: per-test temporary paths and the corpus.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace moe::data::testing {

inline std::filesystem::path temp_dir() {
  return std::filesystem::path(::testing::TempDir()) / ("moe_data_" + std::to_string(::getpid()));
}

// Removes this process's temporary folder when the test program exits.
struct TempDirCleanup {
  ~TempDirCleanup() {
    std::error_code ec;
    std::filesystem::remove_all(temp_dir(), ec);
  }
};
inline TempDirCleanup temp_dir_cleanup;

// A fresh path for this test: <tmp>/moe_data_<pid>/<suite>.<test>.<name>.
inline std::string temp_path(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::filesystem::path dir = temp_dir();
  std::filesystem::create_directories(dir);
  const std::string p =
      (dir / (std::string(info->test_suite_name()) + "." + info->name() + "." + name)).string();
  std::filesystem::remove(p);
  return p;
}

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << bytes;
}

inline std::string shakespeare() {
  return read_file(std::string(MOE_SOURCE_DIR) + "/data/corpus/tinyshakespeare.txt");
}

}  // namespace moe::data::testing
