#include <gtest/gtest.h>

#include "data/byte_tokenizer.h"
#include "data/config.pb.h"
#include "data/hdf5_dataset.h"
#include "data/megatron_dataset.h"
#include "data/open_dataset.h"
#include "data/prepare.h"
#include "test_util.h"

namespace moe::data {
namespace {

TEST(Prepare, DocumentsAreBlankLineSeparatedParagraphs) {
  const std::string text = "\nFirst:\nline\n\n  \nSecond\n\nThird";
  const std::vector<std::string_view> docs = split_documents(text);
  EXPECT_EQ(docs, (std::vector<std::string_view>{"\nFirst:\nline\n\n  \n", "Second\n\n", "Third"}));
  EXPECT_EQ(split_documents(""), std::vector<std::string_view>{});
  EXPECT_EQ(split_documents("one\n"), std::vector<std::string_view>{"one\n"});
}

TEST(Prepare, SplitTrainValLikeNanoGpt) {
  const ByteTokenizer tok;
  const std::string text = testing::shakespeare();
  const std::vector<std::string_view> docs = split_documents(text);
  EncodedCorpus c = encode_documents(tok, docs);
  EXPECT_EQ(c.tokens.size(), 1115394u);
  EXPECT_EQ(c.doc_offsets.size(), docs.size());
  EXPECT_EQ(tok.decode(c.tokens), text);
  const auto [train, val] = split_train_val(std::move(c), 0.1);
  // nanoGPT's shakespeare_char: "train has 1,003,854 tokens, val has 111,540".
  EXPECT_EQ(train.tokens.size(), 1003854u);
  EXPECT_EQ(val.tokens.size(), 111540u);
  EXPECT_TRUE(validate_token_split(train, 256, "t").ok());
  EXPECT_TRUE(validate_token_split(val, 256, "t").ok());
  EXPECT_EQ(tok.decode(train.tokens) + tok.decode(val.tokens), text);
}

TEST(Prepare, SplitKeepsDocumentBoundaries) {
  EncodedCorpus c{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {0, 4, 8}};
  auto [train, val] = split_train_val(c, 0.3);  // 7 train tokens, cut inside document 1
  EXPECT_EQ(train.doc_offsets, (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(val.doc_offsets, (std::vector<int64_t>{0, 1}));
  auto [t2, v2] = split_train_val(c, 0.2);  // boundary exactly at a document start
  EXPECT_EQ(v2.doc_offsets, (std::vector<int64_t>{0}));
  auto [t3, v3] = split_train_val(c, 0.0);
  EXPECT_TRUE(v3.tokens.empty());
  EXPECT_TRUE(v3.doc_offsets.empty());
}

TEST(Prepare, OpenByConfigPicksTheFormat) {
  const std::string h5 = testing::temp_path("ds.h5");
  const std::string prefix = testing::temp_path("mega");
  const TokenSplit s{"train", {1, 2, 3}, {0}};
  ASSERT_TRUE(write_token_dataset(h5, ByteTokenizer(), std::vector<TokenSplit>{s}).ok());
  ASSERT_TRUE(write_megatron_dataset(prefix + "_train", s, 256).ok());
  config::DataConfig cfg;
  cfg.set_path(h5);
  absl::StatusOr<std::unique_ptr<TokenDataset>> d = open_token_dataset(cfg, "train");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ((*d)->vocab_size(), 256);
  cfg.set_path(prefix);
  d = open_token_dataset(cfg, "train");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ((*d)->num_tokens(), 3);
  cfg.set_format(config::DATASET_HDF5);
  EXPECT_FALSE(open_token_dataset(cfg, "train").ok());
  // An empty path names the field, not the "_train.idx" it would look for.
  cfg.set_path("");
  cfg.set_format(config::DATASET_AUTO);
  const absl::Status empty = open_token_dataset(cfg, "train").status();
  EXPECT_EQ(empty.code(), absl::StatusCode::kInvalidArgument) << empty;
  EXPECT_NE(empty.message().find("data.path is empty"), std::string::npos) << empty;
}

// moe-prep's refusal of input that would make an empty dataset.
TEST(Prepare, EmptyInputIsRefusedNamingTheInput) {
  const ByteTokenizer tok;
  auto splits = [&](std::string_view text, double f) {
    return split_train_val(encode_documents(tok, split_documents(text)), f);
  };
  auto [t0, v0] = splits("", 0.1);
  absl::Status st = check_prepared_splits(t0, v0, 0.1, "in/empty.txt");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(st.message().find("in/empty.txt: no tokens to write"), std::string::npos) << st;
  auto [t1, v1] = splits("a", 0.5);  // floor(1 x 0.5) = 0 train tokens
  st = check_prepared_splits(t1, v1, 0.5, "one.txt");
  EXPECT_NE(st.message().find("one.txt: the train split would be empty (1 tokens"), std::string::npos) << st;
  auto [t2, v2] = splits("some text", 1e-17);  // 1 - 1e-17 rounds to 1: no val token
  st = check_prepared_splits(t2, v2, 1e-17, "a.txt,b.txt");
  EXPECT_NE(st.message().find("a.txt,b.txt: val_fraction 1e-17 of 9 tokens leaves the val split empty"),
            std::string::npos)
      << st;
  auto [t3, v3] = splits("some text", 0.0);  // no val split asked for
  EXPECT_TRUE(check_prepared_splits(t3, v3, 0.0, "a.txt").ok());
  auto [t4, v4] = splits("some text", 0.3);
  EXPECT_TRUE(check_prepared_splits(t4, v4, 0.3, "a.txt").ok());
}

}  // namespace
}  // namespace moe::data
