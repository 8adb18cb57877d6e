#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "core/error.h"
#include "data/megatron_dataset.h"
#include "data/megatron_format.h"
#include "test_util.h"

namespace moe::data {
namespace {

using testing::temp_path;

TokenSplit sample(int32_t vocab, int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  TokenSplit s{"train", {}, {0}};
  for (int64_t i = 0; i < n; ++i) s.tokens.push_back(int32_t(rng() % vocab));
  for (int64_t i = 13; i < n; i += 101) s.doc_offsets.push_back(i);
  return s;
}

std::vector<int32_t> read_all(const TokenDataset& d) {
  std::vector<int32_t> out(size_t(d.num_tokens()));
  d.read(0, d.num_tokens(), out.data());
  return out;
}

void expect_error_names(const absl::Status& st, const std::string& file) {
  EXPECT_FALSE(st.ok());
  EXPECT_NE(std::string(st.message()).find(file), std::string::npos) << st;
}

TEST(MegatronDataset, RoundTripUint16) {
  const std::string prefix = temp_path("ds");
  const TokenSplit s = sample(50257, 10000, 1);
  ASSERT_TRUE(write_megatron_dataset(prefix, s, 50257).ok());
  const std::string idx = testing::read_file(prefix + ".idx");
  EXPECT_EQ(idx.substr(0, 9), std::string("MMIDIDX\0\0", 9));
  EXPECT_EQ(idx[17], char(megatron::kUint16));
  EXPECT_EQ(testing::read_file(prefix + ".bin").size(), 2 * s.tokens.size());

  absl::StatusOr<std::unique_ptr<TokenDataset>> ds = open_megatron_dataset(prefix, 50257);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ((*ds)->num_tokens(), 10000);
  EXPECT_EQ((*ds)->vocab_size(), 50257);
  EXPECT_EQ(read_all(**ds), s.tokens);
  EXPECT_EQ((*ds)->doc_offsets(), s.doc_offsets);
  EXPECT_EQ((*ds)->max_token(), *std::max_element(s.tokens.begin(), s.tokens.end()));
  std::vector<int32_t> part(3);
  (*ds)->read(9997, 3, part.data());
  EXPECT_EQ(part, std::vector<int32_t>(s.tokens.end() - 3, s.tokens.end()));
  EXPECT_THROW((*ds)->read(9998, 3, part.data()), Error);

  // Without a vocabulary the dataset reports max_token + 1.
  ds = open_megatron_dataset(prefix);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ((*ds)->vocab_size(), (*ds)->max_token() + 1);
  // A vocabulary smaller than the ids is an error.
  expect_error_names(open_megatron_dataset(prefix, 10).status(), prefix + ".bin");
}

TEST(MegatronDataset, RoundTripInt32) {
  const std::string prefix = temp_path("ds");
  const TokenSplit s = sample(100000, 3000, 2);
  ASSERT_TRUE(write_megatron_dataset(prefix, s, 100000).ok());
  EXPECT_EQ(testing::read_file(prefix + ".idx")[17], char(megatron::kInt32));
  absl::StatusOr<std::unique_ptr<TokenDataset>> ds = open_megatron_dataset(prefix, 100000);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ(read_all(**ds), s.tokens);
  EXPECT_EQ((*ds)->doc_offsets(), s.doc_offsets);
}

// An index built by hand the way Megatron's builder does it, with int8
// tokens and an empty document (two equal document indices).
TEST(MegatronDataset, ReadsHandBuiltIndex) {
  const std::string prefix = temp_path("hand");
  std::string idx("MMIDIDX\0\0", 9);
  auto put = [&](const auto& v) { idx.append(reinterpret_cast<const char*>(&v), sizeof(v)); };
  put(uint64_t(1));
  put(uint8_t(megatron::kInt8));
  put(uint64_t(3));  // sequences
  put(uint64_t(4));  // document indices: 0, 1, 1, 3
  for (int32_t len : {2, 1, 3}) put(len);
  for (int64_t ptr : {0, 2, 3}) put(ptr);
  for (int64_t d : {0, 1, 1, 3}) put(d);
  testing::write_file(prefix + ".idx", idx);
  testing::write_file(prefix + ".bin", std::string("\x05\x06\x07\x01\x02\x03", 6));
  absl::StatusOr<std::unique_ptr<TokenDataset>> ds = open_megatron_dataset(prefix);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ(read_all(**ds), (std::vector<int32_t>{5, 6, 7, 1, 2, 3}));
  EXPECT_EQ((*ds)->doc_offsets(), (std::vector<int64_t>{0, 2}));
  EXPECT_EQ((*ds)->vocab_size(), 8);
}

TEST(MegatronDataset, Errors) {
  const std::string prefix = temp_path("ds");
  expect_error_names(open_megatron_dataset(prefix).status(), prefix + ".idx");
  ASSERT_TRUE(write_megatron_dataset(prefix, sample(256, 1000, 3), 256).ok());
  const std::string idx = testing::read_file(prefix + ".idx");
  const std::string bin = testing::read_file(prefix + ".bin");

  auto check = [&](const std::string& bad_idx, const std::string& bad_bin, const std::string& file,
                   const std::string& words) {
    const std::string p = temp_path("bad");
    testing::write_file(p + ".idx", bad_idx);
    testing::write_file(p + ".bin", bad_bin);
    const absl::Status st = open_megatron_dataset(p).status();
    expect_error_names(st, p + file);
    EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
    EXPECT_NE(std::string(st.message()).find(words), std::string::npos) << st;
  };
  std::string magic = idx;
  magic[0] = 'X';
  check(magic, bin, ".idx", "bad magic");
  std::string version = idx;
  version[9] = 2;
  check(version, bin, ".idx", "version 2");
  std::string dtype = idx;
  dtype[17] = char(megatron::kFloat32);
  check(dtype, bin, ".idx", "float");
  check(idx.substr(0, 20), bin, ".idx", "truncated");
  check(idx.substr(0, idx.size() - 8), bin, ".idx", "truncated");
  check(idx, bin.substr(0, bin.size() - 2), ".bin", "truncated");
  std::remove((prefix + ".bin").c_str());
  expect_error_names(open_megatron_dataset(prefix).status(), prefix + ".bin");
}

}  // namespace
}  // namespace moe::data
