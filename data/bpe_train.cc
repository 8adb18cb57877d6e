// BpeTokenizer::train: greedy BPE with incremental pair counts.
//
// The corpus is reduced to its distinct chunks ("words") with their
// frequencies. We keep, for every adjacent pair, its total count over all
// words and the list of words that may hold it, plus a max-heap of
// (count, pair). A merge rewrites only the words listed for its pair,
// subtracting each word's old pairs and adding its new ones; pairs whose
// count changed are pushed again, and heap entries whose count no longer
// matches are skipped when popped (lazy deletion).
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "data/bpe_tokenizer.h"
#include "data/pretokenize.h"

namespace moe::data {
namespace {

struct Word {
  std::vector<int32_t> syms;
  int64_t freq = 0;
  int64_t stamp = -1;  // last merge that rewrote this word
};

struct HeapEntry {
  int64_t count;
  uint64_t key;
  // priority_queue pops the largest: higher count, then the lower pair.
  bool operator<(const HeapEntry& o) const {
    return count != o.count ? count < o.count : key > o.key;
  }
};

std::vector<Word> count_words(std::string_view corpus) {
  std::unordered_map<std::string_view, int64_t> freq;
  for (std::string_view c : pretokenize(corpus)) ++freq[c];
  std::vector<Word> words;
  words.reserve(freq.size());
  for (const auto& [chunk, f] : freq) {
    if (chunk.size() < 2) continue;  // holds no pair
    Word w;
    w.freq = f;
    for (char c : chunk) w.syms.push_back(static_cast<unsigned char>(c));
    words.push_back(std::move(w));
  }
  return words;
}

// Replaces every non-overlapping (a, b), left to right, by `id`.
bool merge_word(std::vector<int32_t>& s, int32_t a, int32_t b, int32_t id) {
  size_t out = 0;
  bool changed = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
      s[out++] = id;
      ++i;
      changed = true;
    } else {
      s[out++] = s[i];
    }
  }
  s.resize(out);
  return changed;
}

}  // namespace

BpeTokenizer BpeTokenizer::train(std::string_view corpus, int32_t vocab_size) {
  MOE_CHECK(vocab_size >= 256, "BpeTokenizer::train: vocab_size ", vocab_size, " is below 256");
  std::vector<Word> words = count_words(corpus);

  std::unordered_map<uint64_t, int64_t> counts;
  std::unordered_map<uint64_t, std::vector<int32_t>> where;  // may hold stale words
  for (int32_t w = 0; w < int32_t(words.size()); ++w) {
    const auto& s = words[w].syms;
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      const uint64_t k = pair_key(s[i], s[i + 1]);
      counts[k] += words[w].freq;
      auto& list = where[k];
      if (list.empty() || list.back() != w) list.push_back(w);
    }
  }
  std::priority_queue<HeapEntry> heap;
  for (const auto& [k, c] : counts) heap.push({c, k});

  std::vector<Merge> merges;
  std::unordered_map<uint64_t, int64_t> delta;
  while (256 + int64_t(merges.size()) < vocab_size && !heap.empty()) {
    const HeapEntry top = heap.top();
    heap.pop();
    const auto it = counts.find(top.key);
    if (it == counts.end() || it->second != top.count) continue;  // stale entry
    const int32_t a = int32_t(top.key >> 32), b = int32_t(uint32_t(top.key));
    const int32_t id = 256 + int32_t(merges.size());
    const int64_t stamp = int64_t(merges.size());
    merges.emplace_back(a, b);

    const std::vector<int32_t> touched = std::move(where[top.key]);
    where.erase(top.key);
    delta.clear();
    for (int32_t w : touched) {
      Word& word = words[w];
      if (word.stamp == stamp) continue;  // listed twice
      word.stamp = stamp;
      auto& s = word.syms;
      std::vector<int32_t> before = s;
      if (!merge_word(s, a, b, id)) continue;
      for (size_t i = 0; i + 1 < before.size(); ++i)
        delta[pair_key(before[i], before[i + 1])] -= word.freq;
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        const uint64_t k = pair_key(s[i], s[i + 1]);
        delta[k] += word.freq;
        // Only pairs with the new id are new to this word.
        if (s[i] == id || s[i + 1] == id) {
          auto& list = where[k];
          if (list.empty() || list.back() != w) list.push_back(w);
        }
      }
    }
    for (const auto& [k, d] : delta) {
      if (d == 0) continue;
      const int64_t c = (counts[k] += d);
      if (c > 0) {
        heap.push({c, k});
      } else {
        counts.erase(k);
      }
    }
  }
  return BpeTokenizer(std::move(merges));
}

}  // namespace moe::data
