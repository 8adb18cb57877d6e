#include "data/bpe_tokenizer.h"

#include <charconv>
#include <functional>
#include <queue>

#include "absl/strings/str_cat.h"
#include "core/error.h"
#include "data/pretokenize.h"

namespace moe::data {

BpeTokenizer::BpeTokenizer(std::vector<Merge> merges) : merges_(std::move(merges)) {
  vocab_.reserve(256 + merges_.size());
  for (int c = 0; c < 256; ++c) vocab_.emplace_back(1, char(c));
  for (size_t i = 0; i < merges_.size(); ++i) {
    const auto [a, b] = merges_[i];
    const int32_t limit = int32_t(256 + i);
    MOE_CHECK(a >= 0 && a < limit && b >= 0 && b < limit, "BpeTokenizer: merge ", i, " (", a, ", ",
              b, ") uses an id outside [0, ", limit, ")");
    ranks_.emplace(pair_key(a, b), int32_t(i));  // a repeated pair keeps its first rank
    vocab_.push_back(vocab_[a] + vocab_[b]);
  }
}

const std::string& BpeTokenizer::token_bytes(int32_t id) const {
  MOE_CHECK(id >= 0 && id < vocab_size(), "BpeTokenizer: token ", id, " is outside [0, ",
            vocab_size(), ")");
  return vocab_[id];
}

int32_t BpeTokenizer::rank(int32_t a, int32_t b) const {
  const auto it = ranks_.find(pair_key(a, b));
  return it == ranks_.end() ? -1 : it->second;
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 2 + 1);
  for (std::string_view chunk : pretokenize(text)) encode_chunk(chunk, out);
  return out;
}

void BpeTokenizer::encode_chunk(std::string_view chunk, std::vector<int32_t>& out) const {
  const int32_t n = int32_t(chunk.size());
  if (n == 1 || merges_.empty()) {
    for (char c : chunk) out.push_back(static_cast<unsigned char>(c));
    return;
  }
  // Doubly linked list of symbols; id -1 marks a symbol merged into its left.
  std::vector<int32_t> id(n), next(n), prev(n);
  for (int32_t i = 0; i < n; ++i) {
    id[i] = static_cast<unsigned char>(chunk[i]);
    next[i] = i + 1;
    prev[i] = i - 1;
  }
  // Candidates (rank, left position), smallest rank then leftmost first.
  // Entries go stale when a neighbour changes; they are checked on pop.
  using Cand = std::pair<int32_t, int32_t>;
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  auto push = [&](int32_t i) {
    if (i < 0 || next[i] >= n) return;
    const int32_t r = rank(id[i], id[next[i]]);
    if (r >= 0) heap.emplace(r, i);
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    const auto [r, i] = heap.top();
    heap.pop();
    const int32_t j = next[i];
    if (id[i] < 0 || j >= n || merges_[r] != Merge{id[i], id[j]}) continue;  // stale
    id[i] = 256 + r;
    id[j] = -1;
    next[i] = next[j];
    if (next[j] < n) prev[next[j]] = i;
    // New pairs contain id 256 + r, so their ranks are all above r: the
    // order of merges is the same as merging rank by rank.
    push(prev[i]);
    push(i);
  }
  for (int32_t i = 0; i < n; i = next[i]) out.push_back(id[i]);
}

std::string BpeTokenizer::decode(std::span<const int32_t> tokens) const {
  std::string out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    MOE_CHECK(tokens[i] >= 0 && tokens[i] < vocab_size(), "BpeTokenizer::decode: token ", tokens[i],
              " at position ", i, " is outside [0, ", vocab_size(), ")");
    out += vocab_[tokens[i]];
  }
  return out;
}

std::string BpeTokenizer::serialize() const {
  std::string s = absl::StrCat("moe-bpe 1\n", merges_.size(), "\n");
  for (const auto& [a, b] : merges_) absl::StrAppend(&s, a, " ", b, "\n");
  return s;
}

namespace {

// Cuts at `sep`; a trailing separator yields no empty last piece.
std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    const size_t at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) break;
    s.remove_prefix(at + 1);
  }
  return out;
}

bool parse_int(std::string_view s, int64_t& v) {
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace

absl::StatusOr<BpeTokenizer> BpeTokenizer::deserialize(std::string_view text) {
  const std::vector<std::string_view> lines = split(text, '\n');
  if (lines.empty() || lines[0] != "moe-bpe 1")
    return absl::InvalidArgumentError("bpe tokenizer: missing header line \"moe-bpe 1\"");
  int64_t count = 0;
  if (lines.size() < 2 || !parse_int(lines[1], count) || count < 0)
    return absl::InvalidArgumentError("bpe tokenizer: line 2 must be the merge count");
  if (int64_t(lines.size()) != count + 2)
    return absl::InvalidArgumentError(
        absl::StrCat("bpe tokenizer: header says ", count, " merges, found ", lines.size() - 2));
  std::vector<Merge> merges;
  merges.reserve(count);
  for (int64_t i = 0; i < count; ++i) {
    const std::vector<std::string_view> f = split(lines[i + 2], ' ');
    int64_t a = -1, b = -1;
    const int64_t limit = 256 + i;
    if (f.size() != 2 || !parse_int(f[0], a) || !parse_int(f[1], b) || a < 0 || b < 0 ||
        a >= limit || b >= limit)
      return absl::InvalidArgumentError(absl::StrCat("bpe tokenizer: merge ", i, " (line ", i + 3,
                                                     ") is not two ids below ", limit, ": \"",
                                                     std::string(lines[i + 2]), "\""));
    merges.emplace_back(int32_t(a), int32_t(b));
  }
  return BpeTokenizer(std::move(merges));
}

}  // namespace moe::data
