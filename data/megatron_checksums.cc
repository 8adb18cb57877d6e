#include "data/megatron_checksums.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "data/checksum.h"

namespace moe::data {
namespace {

constexpr const char* kHeader = "moe-megatron-checksums 1";
// Bounds the scan buffer a corrupt sidecar could ask for.
constexpr uint64_t kMaxChunkBytes = uint64_t(1) << 30;

std::string hex(uint64_t v) { return absl::StrFormat("0x%016x", v); }

// Reads the sidecar's lines one by one, each "key value" or "chunk i value".
class LineReader {
 public:
  LineReader(std::istream& in, const std::string& path) : in_(in), path_(path) {}

  absl::Status bad(const std::string& what) const {
    return absl::DataLossError(absl::StrCat(path_, ":", line_no_, ": ", what));
  }
  // The value of line "KEY VALUE" (KEY may hold spaces: "chunk 3"), a
  // decimal number or hex with 0x.
  absl::StatusOr<uint64_t> number(const std::string& key) {
    std::string line;
    ++line_no_;
    if (!std::getline(in_, line)) return bad(absl::StrCat("ends before '", key, "'"));
    const std::string prefix = key + " ";
    if (line.rfind(prefix, 0) != 0) return bad(absl::StrCat("expected '", key, " VALUE', got '", line, "'"));
    const std::string value = line.substr(prefix.size());
    uint64_t v = 0;
    const bool ok = value.rfind("0x", 0) == 0 ? absl::SimpleHexAtoi(value.substr(2), &v) : absl::SimpleAtoi(value, &v);
    if (!ok) return bad(absl::StrCat("'", value, "' is not a number"));
    return v;
  }
  absl::StatusOr<std::string> line() {
    std::string s;
    ++line_no_;
    if (!std::getline(in_, s)) return bad("unexpected end of file");
    return s;
  }

 private:
  std::istream& in_;
  const std::string& path_;
  int line_no_ = 0;
};

}  // namespace

uint64_t fnv1a64_bytes(std::span<const char> bytes) {
  Fnv1a64 h;
  h.update(bytes.data(), bytes.size());
  return h.value();
}

MegatronChecksums compute_megatron_checksums(std::span<const char> idx, std::span<const char> bin,
                                             int32_t vocab_size) {
  MegatronChecksums s;
  s.vocab_size = vocab_size;
  s.idx_bytes = idx.size();
  s.idx_fnv = fnv1a64_bytes(idx);
  s.bin_bytes = bin.size();
  for (uint64_t at = 0; at < bin.size(); at += s.chunk_bytes)
    s.chunks.push_back(fnv1a64_bytes(bin.subspan(at, std::min<uint64_t>(s.chunk_bytes, bin.size() - at))));
  return s;
}

std::string format_megatron_checksums(const MegatronChecksums& s) {
  std::string out = absl::StrCat(kHeader, "\nvocab_size ", s.vocab_size, "\nidx_bytes ", s.idx_bytes,
                                 "\nidx_fnv1a64 ", hex(s.idx_fnv), "\nbin_bytes ", s.bin_bytes,
                                 "\nchunk_bytes ", s.chunk_bytes, "\n");
  for (size_t i = 0; i < s.chunks.size(); ++i) absl::StrAppend(&out, "chunk ", i, " ", hex(s.chunks[i]), "\n");
  return out;
}

absl::StatusOr<std::optional<MegatronChecksums>> read_megatron_checksums(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::optional<MegatronChecksums>();
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::DataLossError(absl::StrCat(path, ": cannot open"));
  LineReader r(in, path);
  absl::StatusOr<std::string> header = r.line();
  if (!header.ok()) return header.status();
  if (*header != kHeader)
    return r.bad(absl::StrCat("'", *header, "' is not '", kHeader, "' (not a moe-prep checksum file)"));
  MegatronChecksums s;
  absl::StatusOr<uint64_t> vocab = r.number("vocab_size");
  if (!vocab.ok()) return vocab.status();
  if (*vocab < 1 || *vocab > uint64_t(std::numeric_limits<int32_t>::max()))
    return r.bad(absl::StrCat("vocab_size ", *vocab, " is outside [1, 2^31)"));
  s.vocab_size = int32_t(*vocab);
  for (auto [key, field] : {std::pair{"idx_bytes", &s.idx_bytes}, std::pair{"idx_fnv1a64", &s.idx_fnv},
                            std::pair{"bin_bytes", &s.bin_bytes}, std::pair{"chunk_bytes", &s.chunk_bytes}}) {
    absl::StatusOr<uint64_t> v = r.number(key);
    if (!v.ok()) return v.status();
    *field = *v;
  }
  if (s.chunk_bytes == 0 || s.chunk_bytes % 8 != 0 || s.chunk_bytes > kMaxChunkBytes)
    return r.bad(absl::StrCat("chunk_bytes ", s.chunk_bytes, " must be a multiple of 8 in [8, ", kMaxChunkBytes, "]"));
  const uint64_t n = (s.bin_bytes + s.chunk_bytes - 1) / s.chunk_bytes;
  s.chunks.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    absl::StatusOr<uint64_t> v = r.number(absl::StrCat("chunk ", i));
    if (!v.ok()) return v.status();
    s.chunks.push_back(*v);
  }
  std::string extra;
  if (std::getline(in, extra) && !extra.empty())
    return r.bad(absl::StrCat("unexpected line '", extra, "' after the ", n, " chunk sums"));
  return std::optional<MegatronChecksums>(std::move(s));
}

}  // namespace moe::data
