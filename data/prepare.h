#pragma once
// Text -> token splits, the library half of moe-prep.
//
// Documents: a text is cut after every run of blank lines, so a document is
// a paragraph together with the blank lines that follow it (a line is blank
// when it holds only whitespace). The documents concatenate back to the
// text, and their encodings concatenate to the token stream, so decoding the
// whole stream gives the input back byte for byte.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "data/token_split.h"
#include "data/tokenizer.h"

namespace moe::data {

std::vector<std::string_view> split_documents(std::string_view text);

struct EncodedCorpus {
  std::vector<int32_t> tokens;
  std::vector<int64_t> doc_offsets;  // start of each non-empty document
};

// Encodes each document separately (no BPE merge crosses a document
// boundary) and concatenates.
EncodedCorpus encode_documents(const Tokenizer& tokenizer,
                               const std::vector<std::string_view>& docs);

// nanoGPT's split: the first floor(N * (1 - val_fraction)) tokens are
// "train", the rest "val". A document cut by the boundary starts "val"
// (offset 0). Throws moe::Error unless 0 <= val_fraction <= 1.
std::pair<TokenSplit, TokenSplit> split_train_val(EncodedCorpus corpus, double val_fraction);

// Refuses splits that would make an unusable dataset, before anything is
// written: no tokens at all (empty input, or text that encodes to nothing),
// an empty train split, or an empty val split although val_fraction > 0
// asked for one. InvalidArgument; the message starts with `inputs` (the
// input files) and gives the token counts.
absl::Status check_prepared_splits(const TokenSplit& train, const TokenSplit& val, double val_fraction,
                                   const std::string& inputs);

}  // namespace moe::data
