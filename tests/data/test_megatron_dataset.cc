#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/error.h"
#include "data/megatron_checksums.h"
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

  // Without a vocabulary the dataset reports the sidecar's, and without
  // a sidecar (a dataset built by Megatron) max_token + 1.
  ds = open_megatron_dataset(prefix);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ((*ds)->vocab_size(), 50257);
  std::filesystem::remove(prefix + ".fnv");
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


void expect_message_has(const std::string& message, const std::vector<std::string>& parts) {
  for (const std::string& p : parts) EXPECT_NE(message.find(p), std::string::npos) << p << " not in: " << message;
}

// Overwrites bytes of a file in place (the size stays).
void patch_file(const std::string& path, int64_t at, const std::string& bytes) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(at);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}

// A .bin cut short while the dataset is open (a full disk, a re-prep over
// a running job): reads past the new end throw moe::Error naming the file,
// the document and both sizes. With the old memory map this killed the
// process with SIGBUS.
TEST(MegatronDataset, BinTruncatedAfterOpenIsAnErrorNotASignal) {
  const std::string prefix = temp_path("ds");
  const TokenSplit s = sample(256, 1 << 20, 4);  // 2 MiB of uint16, several pages
  ASSERT_TRUE(write_megatron_dataset(prefix, s, 256).ok());
  absl::StatusOr<std::unique_ptr<TokenDataset>> ds = open_megatron_dataset(prefix);
  ASSERT_TRUE(ds.ok()) << ds.status();
  std::vector<int32_t> part(64);
  (*ds)->read(900000, 64, part.data());  // pages cached before the cut
  std::filesystem::resize_file(prefix + ".bin", 4096);
  (*ds)->read(100, 64, part.data());  // still inside the file
  EXPECT_EQ(part, std::vector<int32_t>(s.tokens.begin() + 100, s.tokens.begin() + 164));
  try {
    (*ds)->read(900000, 64, part.data());
    ADD_FAILURE() << "a read past the truncated end succeeded";
  } catch (const Error& e) {
    const int64_t doc = (900000 - 13) / 101 + 1;  // sample(): documents start at 0, 13, 114, ...
    expect_message_has(e.what(), {prefix + ".bin", "truncated while in use", "tokens [900000, 900064)",
                                  "document " + std::to_string(doc), "bytes [1800000, 1800128)",
                                  "now holds 4096 bytes", std::to_string(2 << 20) + " when opened"});
  }
  // Opening it again reports the truncation at open.
  const absl::Status again = open_megatron_dataset(prefix).status();
  expect_message_has(std::string(again.message()), {prefix + ".fnv", "says " + std::to_string(2 << 20)});
}

// The sidecar moe-prep writes catches a corrupted byte whose token is still
// a valid id (which no range check can see), naming chunk and documents.
TEST(MegatronDataset, SidecarCatchesCorruptBytes) {
  const std::string prefix = temp_path("ds");
  const TokenSplit s = sample(256, 3 << 19, 5);  // 3 MiB: chunks 0, 1, 2
  ASSERT_TRUE(write_megatron_dataset(prefix, s, 256).ok());
  absl::StatusOr<std::optional<MegatronChecksums>> sums = read_megatron_checksums(prefix + ".fnv");
  ASSERT_TRUE(sums.ok()) << sums.status();
  ASSERT_TRUE(sums->has_value());
  EXPECT_EQ((*sums)->vocab_size, 256);
  EXPECT_EQ((*sums)->chunks.size(), 3u);
  ASSERT_TRUE(open_megatron_dataset(prefix).ok());

  const std::string bin = testing::read_file(prefix + ".bin");
  const int64_t at = (1 << 20) + 4242;  // chunk 1, token 524288 + 2121
  std::string flipped(1, char(bin[size_t(at)] ^ 1));  // low byte of a uint16 < 256: still an id
  patch_file(prefix + ".bin", at, flipped);
  absl::Status st = open_megatron_dataset(prefix).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  expect_message_has(std::string(st.message()),
                     {prefix + ".bin", "checksum mismatch in chunk 1", "bytes [1048576, 2097152)",
                      "tokens [524288, 1048576)", prefix + ".fnv"});
  // Without the sidecar nothing sees it: the sidecar is what catches it.
  std::filesystem::rename(prefix + ".fnv", prefix + ".fnv.off");
  EXPECT_TRUE(open_megatron_dataset(prefix).ok());
  std::filesystem::rename(prefix + ".fnv.off", prefix + ".fnv");
  patch_file(prefix + ".bin", at, std::string(1, bin[size_t(at)]));
  ASSERT_TRUE(open_megatron_dataset(prefix).ok());

  // A changed index byte (a sequence length) is caught by the index sum.
  const std::string idx = testing::read_file(prefix + ".idx");
  patch_file(prefix + ".idx", megatron::kHeaderBytes, std::string(1, char(idx[megatron::kHeaderBytes] ^ 1)));
  st = open_megatron_dataset(prefix).status();
  expect_message_has(std::string(st.message()), {prefix + ".idx", "checksum mismatch", prefix + ".fnv"});
  patch_file(prefix + ".idx", megatron::kHeaderBytes, std::string(1, idx[megatron::kHeaderBytes]));

  // A malformed sidecar is an error naming its line, not a silent skip.
  const std::string good = testing::read_file(prefix + ".fnv");
  std::string broken = good;
  broken.replace(broken.find("chunk 1 "), 8, "chunk 7 ");
  testing::write_file(prefix + ".fnv", broken);
  st = open_megatron_dataset(prefix).status();
  expect_message_has(std::string(st.message()), {prefix + ".fnv:8:", "expected 'chunk 1 VALUE'"});
}

// Ids out of range name the file, the offset, the document and the id, and
// say whose vocabulary they break: the file's own (declared in the
// sidecar: the file is corrupt) or the one asked for.
TEST(MegatronDataset, OutOfRangeIdsNameFileOffsetDocumentAndVocab) {
  const std::string prefix = temp_path("ds");
  TokenSplit s = sample(256, 5000, 6);
  s.tokens[2500] = 300;
  ASSERT_TRUE(write_megatron_dataset(prefix, s, 1000).ok());
  absl::StatusOr<std::unique_ptr<TokenDataset>> ds = open_megatron_dataset(prefix);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ((*ds)->vocab_size(), 1000);  // the sidecar's
  EXPECT_EQ((*ds)->max_token(), 300);
  EXPECT_EQ((*ds)->max_token_offset(), 2500);
  const int64_t doc = (2500 - 13) / 101 + 1;
  const std::string where = prefix + ".bin, token offset 2500 (document " + std::to_string(doc) + "): token 300";
  EXPECT_EQ(token_location(**ds, 2500), prefix + ".bin, token offset 2500 (document " + std::to_string(doc) + ")");

  absl::Status st = open_megatron_dataset(prefix, 256).status();
  expect_message_has(std::string(st.message()), {where, "outside the vocabulary [0, 256) asked for"});

  // The sidecar declaring 256 ids: now the file itself is wrong.
  std::string sums = testing::read_file(prefix + ".fnv");
  sums.replace(sums.find("vocab_size 1000"), 15, "vocab_size 256");
  testing::write_file(prefix + ".fnv", sums);
  st = open_megatron_dataset(prefix).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  expect_message_has(std::string(st.message()),
                     {where, "beyond the file's own vocabulary of 256 ids", "declared in " + prefix + ".fnv"});
}

// An id rewritten in place after open (same size, so no short read) is
// caught by read(), before it could index past the embedding.
TEST(MegatronDataset, IdRewrittenAfterOpenIsCaughtOnRead) {
  const std::string prefix = temp_path("ds");
  const TokenSplit s = sample(256, 5000, 7);
  ASSERT_TRUE(write_megatron_dataset(prefix, s, 256).ok());
  absl::StatusOr<std::unique_ptr<TokenDataset>> ds = open_megatron_dataset(prefix);
  ASSERT_TRUE(ds.ok()) << ds.status();
  patch_file(prefix + ".bin", 2 * 4000, std::string("\xff\xff", 2));
  std::vector<int32_t> part(10);
  try {
    (*ds)->read(3995, 10, part.data());
    ADD_FAILURE() << "an id of 65535 was read from a 256-id dataset";
  } catch (const Error& e) {
    expect_message_has(e.what(), {prefix + ".bin, token offset 4000", "token 65535", "[0, 256)", "changed after"});
  }
}

TEST(MegatronDataset, NegativeIdIsNamed) {
  const std::string prefix = temp_path("neg");
  std::string idx("MMIDIDX\0\0", 9);
  auto put = [&](const auto& v) { idx.append(reinterpret_cast<const char*>(&v), sizeof(v)); };
  put(uint64_t(1));
  put(uint8_t(megatron::kInt8));
  put(uint64_t(1));
  put(uint64_t(2));
  put(int32_t(4));
  put(int64_t(0));
  for (int64_t d : {0, 1}) put(d);
  testing::write_file(prefix + ".idx", idx);
  testing::write_file(prefix + ".bin", std::string("\x05\x06\xfe\x01", 4));
  const absl::Status st = open_megatron_dataset(prefix).status();
  expect_message_has(std::string(st.message()), {prefix + ".bin, token offset 2 (document 0): token -2", "negative"});
}

}  // namespace
}  // namespace moe::data
