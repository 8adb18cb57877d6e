// moe-prep: text -> token dataset for moe-train.
//
//   moe-prep --input FILE[,FILE...] --output OUT.h5 [--tokenizer byte|bpe]
//            [--vocab_size N] [--val_fraction 0.1] [--format hdf5|megatron]
//
// Documents are blank-line-separated paragraphs (data/prepare.h); each input
// file also starts a new document. With --tokenizer bpe the merges are
// learned on the whole input. The first (1 - val_fraction) of the tokens
// become split "train", the rest "val" (nanoGPT's convention). --format
// hdf5 writes one file (data/hdf5_dataset.h); --format megatron treats
// --output as a prefix and writes PREFIX_train.{bin,idx} and
// PREFIX_val.{bin,idx} (the tokenizer is not stored in that format) and
// the checksum sidecars PREFIX_train.fnv / PREFIX_val.fnv. An empty input
// file, or text that leaves the train split (or a requested val split)
// empty, is refused before anything is written.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "launch/cli_flags.h"
#include "absl/strings/str_join.h"
#include "core/error.h"
#include "data/bpe_tokenizer.h"
#include "data/byte_tokenizer.h"
#include "data/hdf5_dataset.h"
#include "data/megatron_dataset.h"
#include "data/prepare.h"

ABSL_FLAG(std::vector<std::string>, input, {}, "text file(s), comma-separated");
ABSL_FLAG(std::string, output, "", "output .h5 file (hdf5) or path prefix (megatron)");
ABSL_FLAG(std::string, tokenizer, "byte", "byte or bpe");
ABSL_FLAG(int, vocab_size, 0, "BPE vocabulary size, >= 256 (default 1024); bpe only");
ABSL_FLAG(double, val_fraction, 0.1, "fraction of the tokens (the last ones) for split 'val'");
ABSL_FLAG(std::string, format, "hdf5", "hdf5 or megatron");

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Options {
  std::vector<std::string> inputs;
  std::string output, tokenizer, format;
  int vocab_size = 0;
  double val_fraction = 0.1;
};

// Flag errors are reported as InvalidArgument naming the flag.
absl::StatusOr<Options> parse_options() {
  Options o{absl::GetFlag(FLAGS_input),      absl::GetFlag(FLAGS_output),
            absl::GetFlag(FLAGS_tokenizer),  absl::GetFlag(FLAGS_format),
            absl::GetFlag(FLAGS_vocab_size), absl::GetFlag(FLAGS_val_fraction)};
  if (o.inputs.empty()) return absl::InvalidArgumentError("--input is required");
  if (o.output.empty()) return absl::InvalidArgumentError("--output is required");
  if (o.tokenizer != "byte" && o.tokenizer != "bpe")
    return absl::InvalidArgumentError(
        absl::StrCat("--tokenizer=", o.tokenizer, ": expected byte or bpe"));
  if (o.format != "hdf5" && o.format != "megatron")
    return absl::InvalidArgumentError(
        absl::StrCat("--format=", o.format, ": expected hdf5 or megatron"));
  if (o.tokenizer == "byte" && o.vocab_size != 0 && o.vocab_size != 256)
    return absl::InvalidArgumentError(absl::StrCat(
        "--vocab_size=", o.vocab_size, ": the byte tokenizer has 256 ids (use --tokenizer bpe)"));
  if (o.tokenizer == "bpe" && o.vocab_size == 0) o.vocab_size = 1024;
  if (o.tokenizer == "bpe" && o.vocab_size < 256)
    return absl::InvalidArgumentError(
        absl::StrCat("--vocab_size=", o.vocab_size, ": must be at least 256"));
  if (!(o.val_fraction >= 0.0 && o.val_fraction < 1.0))
    return absl::InvalidArgumentError(
        absl::StrCat("--val_fraction=", o.val_fraction, ": must be in [0, 1)"));
  return o;
}

absl::Status append_file(const std::string& path, std::string& text) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  if (!f) return absl::DataLossError(absl::StrCat(path, ": read failed"));
  // An empty input is a mistake upstream (a failed download, a wrong
  // glob); a dataset missing it would train without a word.
  if (s.str().empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": empty file, nothing to tokenise"));
  text += s.str();
  return absl::OkStatus();
}

absl::Status run(const Options& o) {
  const Clock::time_point t0 = Clock::now();
  std::string text;
  std::vector<size_t> file_ends;
  for (const std::string& in : o.inputs) {
    if (absl::Status st = append_file(in, text); !st.ok()) return st;
    file_ends.push_back(text.size());
  }
  std::vector<std::string_view> docs;
  size_t begin = 0;
  for (size_t end : file_ends) {
    for (std::string_view d :
         moe::data::split_documents(std::string_view(text).substr(begin, end - begin)))
      docs.push_back(d);
    begin = end;
  }
  std::printf("moe-prep: read %zu file(s), %zu bytes, %zu documents\n", o.inputs.size(),
              text.size(), docs.size());

  std::unique_ptr<moe::data::Tokenizer> tok;
  if (o.tokenizer == "bpe") {
    const Clock::time_point t = Clock::now();
    tok = std::make_unique<moe::data::BpeTokenizer>(
        moe::data::BpeTokenizer::train(text, o.vocab_size));
    std::printf("moe-prep: trained BPE to %d ids in %.2f s\n", tok->vocab_size(), since(t));
  } else {
    tok = std::make_unique<moe::data::ByteTokenizer>();
  }

  const Clock::time_point te = Clock::now();
  moe::data::EncodedCorpus corpus = moe::data::encode_documents(*tok, docs);
  const size_t total = corpus.tokens.size();
  std::printf("moe-prep: encoded %zu tokens (%.2f bytes/token) in %.2f s\n", total,
              total ? double(text.size()) / double(total) : 0.0, since(te));
  auto [train, val] = moe::data::split_train_val(std::move(corpus), o.val_fraction);
  if (absl::Status st = moe::data::check_prepared_splits(train, val, o.val_fraction, absl::StrJoin(o.inputs, ","));
      !st.ok())
    return st;
  std::printf("moe-prep: tokenizer %s, vocab %d; train %zu tokens, val %zu tokens\n",
              tok->kind().c_str(), tok->vocab_size(), train.tokens.size(), val.tokens.size());

  if (o.format == "hdf5") {
    const std::vector<moe::data::TokenSplit> splits{std::move(train), std::move(val)};
    if (absl::Status st = moe::data::write_token_dataset(o.output, *tok, splits); !st.ok())
      return st;
    std::printf("moe-prep: wrote %s (%ju bytes)", o.output.c_str(),
                uintmax_t(std::filesystem::file_size(o.output)));
  } else {
    for (const moe::data::TokenSplit* s : {&train, &val}) {
      const std::string prefix = o.output + "_" + s->name;
      if (absl::Status st = moe::data::write_megatron_dataset(prefix, *s, tok->vocab_size());
          !st.ok())
        return st;
    }
    std::printf("moe-prep: wrote %s_{train,val}.{bin,idx,fnv}", o.output.c_str());
  }
  std::printf(" in %.2f s total\n", since(t0));
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  moe::launch::set_usage(
      "moe-prep --input FILE[,FILE...] --output OUT.h5 [--tokenizer byte|bpe] [--vocab_size N] "
      "[--val_fraction 0.1] [--format hdf5|megatron]");
  const std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    std::fprintf(stderr, "moe-prep: error: unexpected argument '%s' (see --help)\n", rest[1]);
    return 2;
  }
  const absl::StatusOr<Options> opts = parse_options();
  if (!opts.ok()) {
    std::fprintf(stderr, "moe-prep: error: %s (see --help)\n",
                 std::string(opts.status().message()).c_str());
    return 2;
  }
  try {
    if (const absl::Status st = run(*opts); !st.ok()) {
      std::fprintf(stderr, "moe-prep: error: %s\n", std::string(st.message()).c_str());
      return 1;
    }
  } catch (const moe::Error& e) {
    std::fprintf(stderr, "moe-prep: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
