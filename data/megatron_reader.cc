// open_megatron_dataset: see data/megatron_dataset.h.
#include <algorithm>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "core/error.h"
#include "data/mapped_file.h"
#include "data/megatron_dataset.h"
#include "data/megatron_format.h"
#include "data/token_split.h"

namespace moe::data {
namespace {

template <typename T>
T load(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));  // unaligned, little-endian host
  return v;
}

class MegatronDataset final : public TokenDataset {
 public:
  int64_t num_tokens() const override { return n_; }
  int32_t vocab_size() const override { return vocab_; }
  int32_t max_token() const override { return max_; }
  const std::vector<int64_t>& doc_offsets() const override { return docs_; }
  std::string describe() const override { return prefix_; }

  void read(int64_t offset, int64_t count, int32_t* out) const override {
    MOE_CHECK(offset >= 0 && count >= 0 && offset + count <= n_, describe(), ": read of [", offset,
              ", ", offset + count, ") outside [0, ", n_, ")");
    convert(offset, count, out);
  }

  // Element i of .bin as int64 (exact for every integer dtype code).
  int64_t at(int64_t i) const {
    const unsigned char* p = bin_.data() + i * int64_t(item_);
    switch (code_) {
      case megatron::kUint8:
        return *p;
      case megatron::kInt8:
        return int8_t(*p);
      case megatron::kInt16:
        return load<int16_t>(p);
      case megatron::kUint16:
        return load<uint16_t>(p);
      case megatron::kInt32:
        return load<int32_t>(p);
      default:
        return load<int64_t>(p);
    }
  }

  // Ids were range-checked at open, so the narrowing is exact.
  void convert(int64_t offset, int64_t count, int32_t* out) const {
    if (code_ == megatron::kInt32) {
      std::memcpy(out, bin_.data() + offset * 4, size_t(count) * 4);
      return;
    }
    for (int64_t i = 0; i < count; ++i) out[i] = int32_t(at(offset + i));
  }

  std::string prefix_;
  MappedFile bin_, idx_;
  uint8_t code_ = 0;
  size_t item_ = 0;
  int64_t n_ = 0;
  int32_t vocab_ = 0, max_ = -1;
  std::vector<int64_t> docs_;
};

absl::Status bad(const std::string& file, const std::string& what) {
  return absl::DataLossError(absl::StrCat(file, ": ", what));
}

// Parses and checks the index; fills code_, item_, n_ and docs_.
absl::Status parse_index(const std::string& idx_path, const std::string& bin_path,
                         MegatronDataset& ds) {
  const unsigned char* p = ds.idx_.data();
  const size_t size = ds.idx_.size();
  if (size < megatron::kHeaderBytes)
    return bad(idx_path, absl::StrCat("truncated index (", size, " bytes, header needs ",
                                      megatron::kHeaderBytes, ")"));
  if (std::memcmp(p, megatron::kMagic, sizeof(megatron::kMagic)) != 0)
    return bad(idx_path, "bad magic: not a Megatron MMIDIDX index");
  const uint64_t version = load<uint64_t>(p + 9);
  if (version != megatron::kVersion)
    return bad(idx_path, absl::StrCat("index version ", version, " is not supported (only 1)"));
  ds.code_ = p[17];
  ds.item_ = megatron::dtype_bytes(ds.code_);
  if (ds.item_ == 0) return bad(idx_path, absl::StrCat("unknown dtype code ", int(ds.code_)));
  if (ds.code_ == megatron::kFloat32 || ds.code_ == megatron::kFloat64)
    return bad(idx_path, absl::StrCat("dtype code ", int(ds.code_), " is a float, not a token id"));
  const uint64_t seqs = load<uint64_t>(p + 18), docs = load<uint64_t>(p + 26);
  // Bound the counts before multiplying so a corrupt header cannot overflow.
  if (seqs > size || docs > size)
    return bad(idx_path, absl::StrCat("truncated index: header claims ", seqs, " sequences and ",
                                      docs, " documents"));
  const size_t need = megatron::kHeaderBytes + seqs * (4 + 8) + docs * 8;
  if (size < need)
    return bad(idx_path, absl::StrCat("truncated index (", size, " bytes, ", need, " needed for ",
                                      seqs, " sequences and ", docs, " document indices)"));
  const unsigned char* lengths = p + megatron::kHeaderBytes;
  const unsigned char* pointers = lengths + seqs * 4;
  const unsigned char* doc_idx = pointers + seqs * 8;

  std::vector<int64_t> seq_start(seqs + 1, 0);  // token offset of each sequence
  for (uint64_t i = 0; i < seqs; ++i) {
    const int32_t len = load<int32_t>(lengths + i * 4);
    const int64_t ptr = load<int64_t>(pointers + i * 8);
    if (len < 0) return bad(idx_path, absl::StrCat("sequence ", i, " has length ", len));
    if (ptr != seq_start[i] * int64_t(ds.item_))
      return bad(idx_path, absl::StrCat("sequence ", i, " starts at byte ", ptr, ", expected ",
                                        seq_start[i] * int64_t(ds.item_),
                                        " (only contiguous sequences are supported)"));
    seq_start[i + 1] = seq_start[i] + len;
  }
  ds.n_ = seq_start[seqs];
  if (uint64_t(ds.bin_.size()) != uint64_t(ds.n_) * ds.item_)
    return bad(bin_path, absl::StrCat("holds ", ds.bin_.size(), " bytes, the index describes ",
                                      uint64_t(ds.n_) * ds.item_, " (truncated or mismatched)"));
  if (docs < 1) return bad(idx_path, "no document indices (expected at least [0])");
  for (uint64_t d = 0; d < docs; ++d) {
    const int64_t s = load<int64_t>(doc_idx + d * 8);
    const int64_t prev = d == 0 ? 0 : load<int64_t>(doc_idx + (d - 1) * 8);
    if (s < prev || s > int64_t(seqs) || (d == 0 && s != 0))
      return bad(idx_path, absl::StrCat("document index ", d, " = ", s,
                                        " is not ascending from 0 within [0, ", seqs, "]"));
    // Empty documents add no boundary of their own.
    const int64_t tok = seq_start[s];
    if (tok < ds.n_ && (ds.docs_.empty() || ds.docs_.back() != tok)) ds.docs_.push_back(tok);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<TokenDataset>> open_megatron_dataset(const std::string& prefix,
                                                                    int32_t vocab_size) {
  auto ds = std::make_unique<MegatronDataset>();
  ds->prefix_ = prefix;
  const std::string idx_path = prefix + ".idx", bin_path = prefix + ".bin";
  absl::StatusOr<MappedFile> idx = MappedFile::open(idx_path);
  if (!idx.ok()) return idx.status();
  absl::StatusOr<MappedFile> bin = MappedFile::open(bin_path);
  if (!bin.ok()) return bin.status();
  ds->idx_ = std::move(*idx);
  ds->bin_ = std::move(*bin);
  if (absl::Status st = parse_index(idx_path, bin_path, *ds); !st.ok()) return st;
  if (ds->n_ > 0 && (ds->docs_.empty() || ds->docs_[0] != 0))
    return bad(idx_path, "the first document does not start at token 0");

  int64_t lo = std::numeric_limits<int64_t>::max(), hi = -1;
  for (int64_t i = 0; i < ds->n_; ++i) {
    const int64_t v = ds->at(i);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (ds->n_ > 0 &&
      (lo < 0 || hi > std::numeric_limits<int32_t>::max() || (vocab_size > 0 && hi >= vocab_size)))
    return bad(bin_path,
               absl::StrCat("token ids span [", lo, ", ", hi, "], outside [0, ",
                            vocab_size > 0 ? int64_t(vocab_size) : int64_t(INT32_MAX), ")"));
  ds->max_ = int32_t(hi);
  ds->vocab_ = vocab_size > 0 ? vocab_size : std::max<int32_t>(int32_t(hi) + 1, 1);
  return std::unique_ptr<TokenDataset>(std::move(ds));
}

}  // namespace moe::data
