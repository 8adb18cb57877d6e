// write_megatron_dataset: see data/megatron_dataset.h.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "data/megatron_checksums.h"
#include "data/megatron_dataset.h"
#include "data/megatron_format.h"

namespace moe::data {
namespace {

// Writes `bytes` to path.tmp, then renames it to path.
absl::Status write_file_atomically(const std::string& path, const std::vector<char>& bytes) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return absl::PermissionDeniedError(absl::StrCat(tmp, ": cannot create"));
  const bool wrote = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  const bool closed = std::fclose(f) == 0;
  std::error_code ec;
  if (!wrote || !closed) {
    std::filesystem::remove(tmp, ec);
    return absl::InternalError(absl::StrCat(tmp, ": write failed (disk full?)"));
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    return absl::InternalError(absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

template <typename T>
void append(std::vector<char>& out, const T& v) {
  const size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));  // little-endian host
}

}  // namespace

absl::Status write_megatron_dataset(const std::string& prefix, const TokenSplit& split,
                                    int32_t vocab_size) {
  if (absl::Status st = validate_token_split(split, vocab_size, prefix); !st.ok()) return st;
  const bool narrow = vocab_size <= 65536;
  const size_t n = split.tokens.size();

  std::vector<char> bin;
  bin.reserve(n * (narrow ? 2 : 4));
  for (int32_t t : split.tokens) {
    if (narrow) {
      append(bin, uint16_t(t));
    } else {
      append(bin, t);
    }
  }

  const auto& docs = split.doc_offsets;
  const uint64_t seqs = docs.size();
  std::vector<char> idx(megatron::kMagic, megatron::kMagic + sizeof(megatron::kMagic));
  append(idx, megatron::kVersion);
  append(idx, uint8_t(narrow ? megatron::kUint16 : megatron::kInt32));
  append(idx, seqs);
  append(idx, uint64_t(seqs + 1));
  for (size_t i = 0; i < seqs; ++i) {
    const int64_t end = i + 1 < seqs ? docs[i + 1] : int64_t(n);
    const int64_t len = end - docs[i];
    if (len > INT32_MAX)
      return absl::InvalidArgumentError(
          absl::StrCat(prefix, ": document ", i, " has ", len, " tokens, above int32 range"));
    append(idx, int32_t(len));
  }
  for (size_t i = 0; i < seqs; ++i) append(idx, int64_t(docs[i] * (narrow ? 2 : 4)));
  for (uint64_t d = 0; d <= seqs; ++d) append(idx, int64_t(d));

  if (absl::Status st = write_file_atomically(prefix + ".bin", bin); !st.ok()) return st;
  if (absl::Status st = write_file_atomically(prefix + ".idx", idx); !st.ok()) return st;
  const std::string sums = format_megatron_checksums(compute_megatron_checksums(idx, bin, vocab_size));
  return write_file_atomically(megatron_checksum_path(prefix), std::vector<char>(sums.begin(), sums.end()));
}

}  // namespace moe::data
