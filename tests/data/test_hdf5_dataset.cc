#include <gtest/gtest.h>
#include <hdf5.h>

#include <filesystem>
#include <numeric>
#include <random>

#include "core/error.h"
#include "data/bpe_tokenizer.h"
#include "data/byte_tokenizer.h"
#include "data/hdf5_dataset.h"
#include "test_util.h"

namespace moe::data {
namespace {

using testing::temp_path;

std::vector<TokenSplit> sample_splits(int32_t vocab, int64_t n_train, uint32_t seed) {
  std::mt19937 rng(seed);
  TokenSplit train{"train", {}, {0}}, val{"val", {}, {0, 3}};
  for (int64_t i = 0; i < n_train; ++i) train.tokens.push_back(int32_t(rng() % vocab));
  for (int64_t i = 100; i < n_train; i += 777) train.doc_offsets.push_back(i);
  for (int i = 0; i < 50; ++i) val.tokens.push_back(int32_t(rng() % vocab));
  return {train, val};
}

std::vector<int32_t> read_all(const TokenDataset& d) {
  std::vector<int32_t> out(size_t(d.num_tokens()));
  d.read(0, d.num_tokens(), out.data());
  return out;
}

void expect_error_names_path(const absl::Status& st, const std::string& path) {
  EXPECT_FALSE(st.ok());
  EXPECT_NE(std::string(st.message()).find(path), std::string::npos) << st;
}

TEST(Hdf5Dataset, RoundTrip) {
  const std::string path = temp_path("ds.h5");
  const ByteTokenizer tok;
  const std::vector<TokenSplit> splits = sample_splits(256, 600000, 1);
  ASSERT_TRUE(write_token_dataset(path, tok, splits).ok());
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  for (const TokenSplit& s : splits) {
    absl::StatusOr<std::unique_ptr<TokenDataset>> ds = open_hdf5_dataset(path, s.name);
    ASSERT_TRUE(ds.ok()) << ds.status();
    const TokenDataset& d = **ds;
    EXPECT_EQ(d.num_tokens(), int64_t(s.tokens.size()));
    EXPECT_EQ(d.vocab_size(), 256);
    EXPECT_EQ(d.max_token(), *std::max_element(s.tokens.begin(), s.tokens.end()));
    EXPECT_EQ(d.doc_offsets(), s.doc_offsets);
    EXPECT_EQ(read_all(d), s.tokens);
    EXPECT_EQ(d.describe(), path + ":" + s.name);
    std::vector<int32_t> part(7);
    d.read(11, 7, part.data());
    EXPECT_EQ(part, std::vector<int32_t>(s.tokens.begin() + 11, s.tokens.begin() + 18));
    EXPECT_THROW(d.read(d.num_tokens() - 3, 4, part.data()), Error);
  }
  absl::StatusOr<std::unique_ptr<Tokenizer>> back = read_hdf5_tokenizer(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ((*back)->kind(), "byte");
}

TEST(Hdf5Dataset, StreamingReadsWithoutCache) {
  const std::string path = temp_path("ds.h5");
  const std::vector<TokenSplit> splits = sample_splits(256, 300000, 2);
  ASSERT_TRUE(write_token_dataset(path, ByteTokenizer(), splits).ok());
  absl::StatusOr<std::unique_ptr<TokenDataset>> ds =
      open_hdf5_dataset(path, "train", Hdf5OpenOptions{.max_cached_bytes = 1024});
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ(read_all(**ds), splits[0].tokens);
  std::vector<int32_t> part(1000);
  (*ds)->read(262000, 1000, part.data());  // crosses a chunk boundary (2^18)
  EXPECT_EQ(part, std::vector<int32_t>(splits[0].tokens.begin() + 262000,
                                       splits[0].tokens.begin() + 263000));
}

TEST(Hdf5Dataset, WideVocabStoresInt32AndBpeTokenizer) {
  const std::string path = temp_path("ds.h5");
  // A tokenizer claiming 70000 ids forces int32 storage.
  std::vector<BpeTokenizer::Merge> merges;
  for (int i = 0; i < 70000 - 256; ++i) merges.push_back({97, 98});
  const BpeTokenizer tok(merges);
  TokenSplit s{"train", {0, 69999, 65536, 5}, {0, 2}};
  ASSERT_TRUE(write_token_dataset(path, tok, std::vector<TokenSplit>{s}).ok());
  absl::StatusOr<std::unique_ptr<TokenDataset>> ds = open_hdf5_dataset(path, "train");
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ(read_all(**ds), s.tokens);
  EXPECT_EQ((*ds)->vocab_size(), 70000);
  absl::StatusOr<std::unique_ptr<Tokenizer>> back = read_hdf5_tokenizer(path);
  ASSERT_TRUE(back.ok()) << back.status();  // > 64 KiB: would not fit an attribute
  EXPECT_EQ((*back)->serialize(), tok.serialize());
}

TEST(Hdf5Dataset, EmptySplit) {
  const std::string path = temp_path("ds.h5");
  ASSERT_TRUE(
      write_token_dataset(path, ByteTokenizer(), std::vector<TokenSplit>{{"val", {}, {}}}).ok());
  absl::StatusOr<std::unique_ptr<TokenDataset>> ds = open_hdf5_dataset(path, "val");
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ((*ds)->num_tokens(), 0);
  EXPECT_EQ((*ds)->max_token(), -1);
}

TEST(Hdf5Dataset, WriterRejectsBadSplits) {
  const std::string path = temp_path("ds.h5");
  const ByteTokenizer tok;
  EXPECT_FALSE(
      write_token_dataset(path, tok, std::vector<TokenSplit>{{"train", {1, 256}, {0}}}).ok());
  EXPECT_FALSE(
      write_token_dataset(path, tok, std::vector<TokenSplit>{{"train", {1, 2}, {1}}}).ok());
  EXPECT_FALSE(write_token_dataset(path, tok, std::vector<TokenSplit>{{"a/b", {1}, {0}}}).ok());
  EXPECT_FALSE(
      write_token_dataset(path, tok, std::vector<TokenSplit>{{"x", {1}, {0}}, {"x", {1}, {0}}})
          .ok());
  EXPECT_FALSE(std::filesystem::exists(path));
  const absl::Status st =
      write_token_dataset("/nonexistent_dir/x.h5", tok, std::vector<TokenSplit>{{"t", {1}, {0}}});
  expect_error_names_path(st, "/nonexistent_dir/x.h5");
}

TEST(Hdf5Dataset, MissingFileAndSplit) {
  const std::string path = temp_path("missing.h5");
  absl::StatusOr<std::unique_ptr<TokenDataset>> ds = open_hdf5_dataset(path, "train");
  expect_error_names_path(ds.status(), path);
  EXPECT_EQ(ds.status().code(), absl::StatusCode::kNotFound);

  ASSERT_TRUE(write_token_dataset(path, ByteTokenizer(), sample_splits(256, 1000, 3)).ok());
  ds = open_hdf5_dataset(path, "test");
  expect_error_names_path(ds.status(), path);
  EXPECT_EQ(ds.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(ds.status().message()).find("train, val"), std::string::npos)
      << ds.status();
}

TEST(Hdf5Dataset, NotHdf5AndTruncated) {
  const std::string garbage = temp_path("garbage.h5");
  testing::write_file(garbage, std::string(4096, 'x'));
  expect_error_names_path(open_hdf5_dataset(garbage, "train").status(), garbage);

  const std::string path = temp_path("ds.h5");
  ASSERT_TRUE(write_token_dataset(path, ByteTokenizer(), sample_splits(256, 100000, 4)).ok());
  const std::string bytes = testing::read_file(path);
  for (size_t keep : {bytes.size() / 2, bytes.size() - 100, size_t(600)}) {
    const std::string cut = temp_path("cut.h5");
    testing::write_file(cut, bytes.substr(0, keep));
    const absl::Status st = open_hdf5_dataset(cut, "train").status();
    expect_error_names_path(st, cut);
    EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  }
}

// File offset of the first chunk of /train/tokens (HDF5 >= 1.10.5).
haddr_t first_chunk(const std::string& path, hsize_t& size) {
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const hid_t d = H5Dopen2(f, "/train/tokens", H5P_DEFAULT);
  hsize_t offset = 0;
  unsigned mask = 0;
  haddr_t addr = 0;
  const hid_t space = H5Dget_space(d);
  EXPECT_GE(H5Dget_chunk_info(d, space, 0, &offset, &mask, &addr, &size), 0);
  H5Sclose(space);
  H5Dclose(d);
  H5Fclose(f);
  return addr;
}

TEST(Hdf5Dataset, CorruptChunkIsDetected) {
  const std::string path = temp_path("ds.h5");
  ASSERT_TRUE(write_token_dataset(path, ByteTokenizer(), sample_splits(256, 100000, 5)).ok());
  hsize_t size = 0;
  const haddr_t addr = first_chunk(path, size);
  ASSERT_GT(size, 100u);
  const std::string bytes = testing::read_file(path);
  // Flip bytes at several places inside the chunk: either deflate fails or
  // the checksum does not match; never silently wrong data.
  for (hsize_t at : {hsize_t(0), size / 3, size / 2, size - 5}) {
    std::string bad = bytes;
    bad[addr + at] = char(bad[addr + at] ^ 0x5a);
    const std::string copy = temp_path("corrupt.h5");
    testing::write_file(copy, bad);
    const absl::Status st = open_hdf5_dataset(copy, "train").status();
    expect_error_names_path(st, copy);
    EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  }
}

// Flipping one bit anywhere in the file either makes open fail (HDF5's
// metadata checksums, deflate, our checksums) or changes nothing we read
// (unused space). Every fifth byte, to keep the test short.
TEST(Hdf5Dataset, NoBitFlipGoesUnnoticed) {
  const std::string path = temp_path("ds.h5");
  std::vector<TokenSplit> splits{{"train", {}, {0, 700}}, {"val", {1, 2, 3}, {0}}};
  for (int i = 0; i < 5000; ++i) splits[0].tokens.push_back(i % 300);
  const BpeTokenizer tok(std::vector<BpeTokenizer::Merge>(100, {97, 98}));
  ASSERT_TRUE(write_token_dataset(path, tok, splits).ok());
  const std::string bytes = testing::read_file(path);
  const std::string copy = temp_path("flipped.h5");
  int failed = 0;
  for (size_t at = 0; at < bytes.size(); at += 5) {
    std::string bad = bytes;
    bad[at] = char(bad[at] ^ (1 << (at % 8)));
    testing::write_file(copy, bad);
    absl::StatusOr<std::unique_ptr<TokenDataset>> train = open_hdf5_dataset(copy, "train");
    absl::StatusOr<std::unique_ptr<TokenDataset>> val = open_hdf5_dataset(copy, "val");
    absl::StatusOr<std::unique_ptr<Tokenizer>> t = read_hdf5_tokenizer(copy);
    for (const absl::Status& st : {train.status(), val.status(), t.status()}) {
      if (!st.ok()) expect_error_names_path(st, copy);
    }
    if (!train.ok() || !val.ok() || !t.ok()) {
      ++failed;
      continue;
    }
    EXPECT_EQ(read_all(**train), splits[0].tokens) << "byte " << at;
    EXPECT_EQ(read_all(**val), splits[1].tokens) << "byte " << at;
    EXPECT_EQ((*train)->doc_offsets(), splits[0].doc_offsets) << "byte " << at;
    EXPECT_EQ((*train)->vocab_size(), 356) << "byte " << at;
    EXPECT_EQ((*t)->serialize(), tok.serialize()) << "byte " << at;
  }
  EXPECT_GT(failed, 50);
}

TEST(Hdf5Dataset, ChecksumMismatchIsDetected) {
  const std::string path = temp_path("ds.h5");
  ASSERT_TRUE(write_token_dataset(path, ByteTokenizer(), sample_splits(256, 5000, 6)).ok());
  {  // Rewrite one token through HDF5 itself: the file stays valid HDF5.
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    const hid_t d = H5Dopen2(f, "/train/tokens", H5P_DEFAULT);
    const hid_t space = H5Dget_space(d);
    const hsize_t start = 1234, one = 1;
    H5Sselect_hyperslab(space, H5S_SELECT_SET, &start, nullptr, &one, nullptr);
    const hid_t mem = H5Screate_simple(1, &one, nullptr);
    int32_t v = 0;
    ASSERT_GE(H5Dread(d, H5T_NATIVE_INT32, mem, space, H5P_DEFAULT, &v), 0);
    v = (v + 1) % 256;
    ASSERT_GE(H5Dwrite(d, H5T_NATIVE_INT32, mem, space, H5P_DEFAULT, &v), 0);
    H5Sclose(mem);
    H5Sclose(space);
    H5Dclose(d);
    H5Fclose(f);
  }
  const absl::Status st = open_hdf5_dataset(path, "train").status();
  expect_error_names_path(st, path);
  EXPECT_NE(std::string(st.message()).find("checksum mismatch"), std::string::npos) << st;
  EXPECT_TRUE(open_hdf5_dataset(path, "val").ok());  // the other split is intact
}

TEST(Hdf5Dataset, WrongDtypeIsDetected) {
  const std::string path = temp_path("ds.h5");
  ASSERT_TRUE(write_token_dataset(path, ByteTokenizer(), sample_splits(256, 100, 7)).ok());
  {  // Replace /train/tokens by a float dataset.
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(f, "/train/tokens", H5P_DEFAULT);
    const hsize_t n = 100;
    const hid_t space = H5Screate_simple(1, &n, nullptr);
    const hid_t d = H5Dcreate2(f, "/train/tokens", H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT,
                               H5P_DEFAULT);
    H5Dclose(d);
    H5Sclose(space);
    H5Fclose(f);
  }
  const absl::Status st = open_hdf5_dataset(path, "train").status();
  expect_error_names_path(st, path + ":/train/tokens");
  EXPECT_NE(std::string(st.message()).find("dtype"), std::string::npos) << st;
}

}  // namespace
}  // namespace moe::data
