#include "data/prepare.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/error.h"

namespace moe::data {
namespace {

bool is_blank(std::string_view line) {
  return std::all_of(line.begin(), line.end(), [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
  });
}

}  // namespace

std::vector<std::string_view> split_documents(std::string_view text) {
  std::vector<std::string_view> docs;
  size_t doc_start = 0, pos = 0;
  bool has_text = false;      // the current document has a non-blank line
  bool in_blank_run = false;  // ... followed by at least one blank line
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    eol = eol == std::string_view::npos ? text.size() : eol + 1;
    const std::string_view line = text.substr(pos, eol - pos);
    const bool blank = is_blank(line.substr(0, line.size() - (line.back() == '\n')));
    if (!blank && in_blank_run) {  // a new paragraph starts here
      docs.push_back(text.substr(doc_start, pos - doc_start));
      doc_start = pos;
      in_blank_run = false;
    }
    // Blank lines before any text (start of the input) join the first document.
    if (blank) in_blank_run = has_text;
    if (!blank) has_text = true;
    pos = eol;
  }
  if (doc_start < text.size()) docs.push_back(text.substr(doc_start));
  return docs;
}

EncodedCorpus encode_documents(const Tokenizer& tokenizer,
                               const std::vector<std::string_view>& docs) {
  EncodedCorpus c;
  for (std::string_view d : docs) {
    std::vector<int32_t> t = tokenizer.encode(d);
    if (t.empty()) continue;
    c.doc_offsets.push_back(int64_t(c.tokens.size()));
    c.tokens.insert(c.tokens.end(), t.begin(), t.end());
  }
  return c;
}

std::pair<TokenSplit, TokenSplit> split_train_val(EncodedCorpus corpus, double val_fraction) {
  MOE_CHECK(val_fraction >= 0.0 && val_fraction <= 1.0, "split_train_val: val_fraction ",
            val_fraction, " is outside [0, 1]");
  const int64_t n = int64_t(corpus.tokens.size());
  const int64_t n_train =
      std::clamp<int64_t>(int64_t(std::floor(double(n) * (1.0 - val_fraction))), 0, n);
  TokenSplit train{"train", {}, {}}, val{"val", {}, {}};
  val.tokens.assign(corpus.tokens.begin() + n_train, corpus.tokens.end());
  corpus.tokens.resize(size_t(n_train));
  train.tokens = std::move(corpus.tokens);
  for (int64_t d : corpus.doc_offsets) {
    if (d < n_train) {
      train.doc_offsets.push_back(d);
    } else {
      if (val.doc_offsets.empty() && d > n_train) val.doc_offsets.push_back(0);  // cut document
      val.doc_offsets.push_back(d - n_train);
    }
  }
  if (val.doc_offsets.empty() && !val.tokens.empty()) val.doc_offsets.push_back(0);
  return {std::move(train), std::move(val)};
}

absl::Status check_prepared_splits(const TokenSplit& train, const TokenSplit& val, double val_fraction,
                                   const std::string& inputs) {
  const size_t total = train.tokens.size() + val.tokens.size();
  if (total == 0)
    return absl::InvalidArgumentError(
        absl::StrCat(inputs, ": no tokens to write (the input is empty or holds no documents); no dataset written"));
  if (train.tokens.empty())
    return absl::InvalidArgumentError(absl::StrCat(inputs, ": the train split would be empty (", total,
                                                   " tokens, val_fraction ", val_fraction, "); no dataset written"));
  if (val.tokens.empty() && val_fraction > 0)
    return absl::InvalidArgumentError(absl::StrCat(inputs, ": val_fraction ", val_fraction, " of ", total,
                                                   " tokens leaves the val split empty (use more text, or "
                                                   "val_fraction 0 for no val split); no dataset written"));
  return absl::OkStatus();
}

}  // namespace moe::data
