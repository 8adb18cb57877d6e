#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <random>

#include "core/error.h"
#include "data/bpe_tokenizer.h"
#include "data/byte_tokenizer.h"
#include "data/pretokenize.h"
#include "test_util.h"

namespace moe::data {
namespace {

using Merges = std::vector<BpeTokenizer::Merge>;

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = char(rng() & 0xff);
  return s;
}

const char* kUtf8 =
    "na\xc3\xafve caf\xc3\xa9 \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e "
    "\xf0\x9f\x98\x80!\n\tZ\xc3\xbcrich 2024";

TEST(ByteTokenizer, TokensAreBytesAndRoundTrip) {
  ByteTokenizer t;
  EXPECT_EQ(t.vocab_size(), 256);
  std::string all(256, '\0');
  for (int i = 0; i < 256; ++i) all[i] = char(i);
  const std::vector<int32_t> ids = t.encode(all);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(ids[i], i);
  EXPECT_EQ(t.decode(ids), all);
  EXPECT_EQ(t.decode(t.encode(kUtf8)), kUtf8);
  EXPECT_THROW(t.decode(std::vector<int32_t>{65, 256}), Error);
}

TEST(Pretokenize, SplitsWordsPunctuationAndSpaceRuns) {
  const std::string text = "Hello, world!  How\n\nare  you 42x";
  const std::vector<std::string_view> got = pretokenize(text);
  const std::vector<std::string_view> want = {"Hello", ",",   " world", "!",    " ",   " How",
                                              "\n\n",  "are", " ",      " you", " 42", "x"};
  EXPECT_EQ(got, want);
  std::string utf8 = "h\xc3\xa9llo w\xc3\xb6rld";
  EXPECT_EQ(pretokenize(utf8), (std::vector<std::string_view>{"h\xc3\xa9llo", " w\xc3\xb6rld"}));
}

TEST(Pretokenize, ChunksConcatenateToInput) {
  for (const std::string& s : {random_bytes(5000, 1), std::string(kUtf8), std::string("   "),
                               std::string(" "), std::string("")}) {
    std::string joined;
    for (std::string_view c : pretokenize(s)) {
      EXPECT_FALSE(c.empty());
      joined += c;
    }
    EXPECT_EQ(joined, s);
  }
}

// The Wikipedia example, merges derived by hand: aa (count 4); then ab and
// (aa, a) tie at 2, the lower pair (97, 98) wins; then (aa, ab) = "aaab".
TEST(BpeTokenizer, HandDerivedMerges) {
  const BpeTokenizer t = BpeTokenizer::train("aaabdaaabac", 259);
  EXPECT_EQ(t.merges(), (Merges{{97, 97}, {97, 98}, {256, 257}}));
  EXPECT_EQ(t.vocab_size(), 259);
  EXPECT_EQ(t.encode("aaabdaaabac"), (std::vector<int32_t>{258, 100, 258, 97, 99}));
  EXPECT_EQ(t.token_bytes(258), "aaab");
  // Training on until no pair is left: every later tie goes to the lowest pair.
  const BpeTokenizer all = BpeTokenizer::train("aaabdaaabac", 1000);
  EXPECT_EQ(all.merges(),
            (Merges{{97, 97}, {97, 98}, {256, 257}, {97, 99}, {100, 258}, {258, 260}, {261, 259}}));
  EXPECT_EQ(all.encode("aaabdaaabac"), (std::vector<int32_t>{262}));
}

TEST(BpeTokenizer, MergesDoNotCrossChunks) {
  // "a b" repeated: the pair (' ', 'b') is inside the chunk " b"; ('a', ' ')
  // spans two chunks and must never be merged.
  const BpeTokenizer t = BpeTokenizer::train("a b a b a b a b", 300);
  for (const auto& [x, y] : t.merges()) EXPECT_NE(std::make_pair(x, y), std::make_pair(97, 32));
  EXPECT_EQ(t.merges().front(), (BpeTokenizer::Merge{32, 98}));
}

// Reference trainer: recounts every pair of every chunk for each merge.
Merges naive_train(const std::string& corpus, int vocab) {
  std::map<std::string, int64_t> freq;
  for (std::string_view c : pretokenize(corpus)) ++freq[std::string(c)];
  std::vector<std::pair<std::vector<int32_t>, int64_t>> words;
  for (const auto& [w, f] : freq) words.push_back({std::vector<int32_t>(w.begin(), w.end()), f});
  for (auto& [w, f] : words)
    for (auto& s : w) s = static_cast<unsigned char>(s);
  Merges merges;
  while (256 + int(merges.size()) < vocab) {
    std::map<std::pair<int32_t, int32_t>, int64_t> counts;
    for (const auto& [w, f] : words)
      for (size_t i = 0; i + 1 < w.size(); ++i) counts[{w[i], w[i + 1]}] += f;
    if (counts.empty()) break;
    auto best = counts.begin();
    for (auto it = counts.begin(); it != counts.end(); ++it)
      if (it->second > best->second) best = it;  // map order: lowest pair wins ties
    const auto [a, b] = best->first;
    const int32_t id = 256 + int32_t(merges.size());
    merges.push_back(best->first);
    for (auto& [w, f] : words) {
      std::vector<int32_t> out;
      for (size_t i = 0; i < w.size(); ++i) {
        if (i + 1 < w.size() && w[i] == a && w[i + 1] == b) {
          out.push_back(id);
          ++i;
        } else {
          out.push_back(w[i]);
        }
      }
      w = out;
    }
  }
  return merges;
}

TEST(BpeTokenizer, IncrementalTrainingMatchesNaiveRecount) {
  const std::string text = testing::shakespeare().substr(0, 20000);
  EXPECT_EQ(BpeTokenizer::train(text, 256 + 120).merges(), naive_train(text, 256 + 120));
  // Small alphabets make long runs and overlapping pairs ("aaaa").
  std::mt19937 rng(7);
  std::string runs;
  for (int i = 0; i < 3000; ++i) runs += "ab "[rng() % 3];
  EXPECT_EQ(BpeTokenizer::train(runs, 256 + 60).merges(), naive_train(runs, 256 + 60));
}

// Reference encoder: merge the lowest-rank pair everywhere, repeat.
std::vector<int32_t> naive_encode(const BpeTokenizer& t, const std::string& text) {
  std::map<std::pair<int32_t, int32_t>, int32_t> rank;
  for (size_t i = 0; i < t.merges().size(); ++i) rank.emplace(t.merges()[i], int32_t(i));
  std::vector<int32_t> out;
  for (std::string_view c : pretokenize(text)) {
    std::vector<int32_t> w;
    for (char ch : c) w.push_back(static_cast<unsigned char>(ch));
    for (;;) {
      int32_t best = -1;
      for (size_t i = 0; i + 1 < w.size(); ++i) {
        const auto it = rank.find({w[i], w[i + 1]});
        if (it != rank.end() && (best < 0 || it->second < best)) best = it->second;
      }
      if (best < 0) break;
      const auto [a, b] = t.merges()[best];
      std::vector<int32_t> next;
      for (size_t i = 0; i < w.size(); ++i) {
        if (i + 1 < w.size() && w[i] == a && w[i + 1] == b) {
          next.push_back(256 + best);
          ++i;
        } else {
          next.push_back(w[i]);
        }
      }
      w = next;
    }
    out.insert(out.end(), w.begin(), w.end());
  }
  return out;
}

class TrainedBpe : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    corpus_ = new std::string(testing::shakespeare());
    const auto t0 = std::chrono::steady_clock::now();
    bpe_ = new BpeTokenizer(BpeTokenizer::train(*corpus_, 512));
    train_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  static void TearDownTestSuite() {
    delete bpe_;
    delete corpus_;
  }
  static std::string* corpus_;
  static BpeTokenizer* bpe_;
  static double train_s_;
};
std::string* TrainedBpe::corpus_ = nullptr;
BpeTokenizer* TrainedBpe::bpe_ = nullptr;
double TrainedBpe::train_s_ = 0;

TEST_F(TrainedBpe, TrainsFastOnTheCorpus) {
  std::printf("train 1.1 MB to vocab 512: %.3f s\n", train_s_);
  EXPECT_EQ(bpe_->vocab_size(), 512);
  EXPECT_LT(train_s_, 10.0);
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<int32_t> ids = bpe_->encode(*corpus_);
  const double enc_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("encode 1.1 MB: %.3f s, %zu tokens (%.2f bytes/token)\n", enc_s, ids.size(),
              double(corpus_->size()) / double(ids.size()));
  EXPECT_LT(ids.size(), corpus_->size() * 6 / 10);  // about 1.95 bytes per token
  EXPECT_EQ(bpe_->decode(ids), *corpus_);
}

TEST_F(TrainedBpe, RoundTripsAnyBytes) {
  for (uint32_t seed = 0; seed < 4; ++seed) {
    const std::string s = random_bytes(4096, seed);
    EXPECT_EQ(bpe_->decode(bpe_->encode(s)), s);
  }
  EXPECT_EQ(bpe_->decode(bpe_->encode(kUtf8)), kUtf8);
  std::string spaces(3000, ' ');  // one long chunk
  EXPECT_EQ(bpe_->decode(bpe_->encode(spaces)), spaces);
  EXPECT_EQ(bpe_->encode(""), std::vector<int32_t>{});
}

TEST_F(TrainedBpe, EncodeMatchesNaiveRankOrder) {
  const std::string text = corpus_->substr(500000, 20000) + random_bytes(2000, 9) + kUtf8;
  EXPECT_EQ(bpe_->encode(text), naive_encode(*bpe_, text));
}

TEST_F(TrainedBpe, Deterministic) {
  const std::string part = corpus_->substr(0, 200000);
  EXPECT_EQ(BpeTokenizer::train(part, 400).merges(), BpeTokenizer::train(part, 400).merges());
}

TEST_F(TrainedBpe, SerialisationRoundTrip) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> back = make_tokenizer("bpe", bpe_->serialize());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ((*back)->kind(), "bpe");
  EXPECT_EQ((*back)->vocab_size(), 512);
  EXPECT_EQ((*back)->serialize(), bpe_->serialize());
  const std::string text = corpus_->substr(1000, 5000);
  EXPECT_EQ((*back)->encode(text), bpe_->encode(text));
}

TEST(Tokenizer, BadSerialisationsAreErrors) {
  EXPECT_TRUE(make_tokenizer("byte", "").ok());
  EXPECT_FALSE(make_tokenizer("byte", "x").ok());
  EXPECT_FALSE(make_tokenizer("word", "").ok());
  EXPECT_FALSE(make_tokenizer("bpe", "").ok());
  EXPECT_FALSE(make_tokenizer("bpe", "moe-bpe 2\n0\n").ok());
  EXPECT_FALSE(make_tokenizer("bpe", "moe-bpe 1\n2\n97 98\n").ok());   // count mismatch
  EXPECT_FALSE(make_tokenizer("bpe", "moe-bpe 1\n1\n97 256\n").ok());  // id not yet defined
  EXPECT_FALSE(make_tokenizer("bpe", "moe-bpe 1\n1\n97 x\n").ok());
  EXPECT_TRUE(make_tokenizer("bpe", "moe-bpe 1\n2\n97 98\n256 97\n").ok());
  EXPECT_THROW(BpeTokenizer(Merges{{1, 300}}), Error);
}

}  // namespace
}  // namespace moe::data
