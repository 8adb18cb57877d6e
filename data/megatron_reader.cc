// open_megatron_dataset: see data/megatron_dataset.h.
#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/error.h"
#include "data/megatron_checksums.h"
#include "data/megatron_dataset.h"
#include "data/megatron_format.h"
#include "data/random_access_file.h"

namespace moe::data {
namespace {

// .bin bytes per read while scanning at open without a sidecar (with one,
// its chunks are the unit).
constexpr uint64_t kScanBytes = uint64_t(1) << 20;

template <typename T>
T load(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));  // unaligned, little-endian host
  return v;
}

std::string hex(uint64_t v) { return absl::StrFormat("0x%016x", v); }

absl::Status bad(const std::string& file, const std::string& what) {
  return absl::DataLossError(absl::StrCat(file, ": ", what));
}

class MegatronDataset final : public TokenDataset {
 public:
  int64_t num_tokens() const override { return n_; }
  int32_t vocab_size() const override { return vocab_; }
  int32_t max_token() const override { return max_; }
  int64_t max_token_offset() const override { return max_at_; }
  const std::vector<int64_t>& doc_offsets() const override { return docs_; }
  std::string describe() const override { return bin_.path(); }

  // Reads through pread, so a .bin truncated while the run goes on is an
  // error naming the file and the document, never a SIGBUS. The ids were
  // checked at open; they are checked again because the file may have been
  // rewritten in place since, and an id past the vocabulary would index
  // outside the embedding.
  void read(int64_t offset, int64_t count, int32_t* out) const override {
    MOE_CHECK(offset >= 0 && count >= 0 && offset + count <= n_, describe(), ": read of [", offset,
              ", ", offset + count, ") outside [0, ", n_, ")");
    if (count == 0) return;
    const uint64_t begin = uint64_t(offset) * item_, bytes = uint64_t(count) * item_;
    std::vector<unsigned char> buf;
    // int32 ids are read straight into `out` (value(i) reads element i before out[i] is written).
    unsigned char* dst = code_ == megatron::kInt32 ? reinterpret_cast<unsigned char*>(out)
                                                   : (buf.resize(size_t(bytes)), buf.data());
    const absl::StatusOr<size_t> got = bin_.read_at(begin, size_t(bytes), dst);
    if (!got.ok()) throw Error(absl::StrCat(got.status().message(), " (", token_location(*this, offset), ")"));
    if (*got < bytes)
      throw Error(absl::StrCat(describe(), ": truncated while in use: tokens [", offset, ", ", offset + count,
                               ") of document ", document_of(offset), " need bytes [", begin, ", ", begin + bytes,
                               "), but the file now holds ", bin_.current_size(), " bytes (", bin_.size(),
                               " when opened, as ", idx_path_, " describes)"));
    for (int64_t i = 0; i < count; ++i) {
      const int64_t v = value(dst + i * int64_t(item_));
      if (v < 0 || v >= vocab_)
        throw Error(absl::StrCat(token_location(*this, offset + i), ": token ", v, " is outside the vocabulary [0, ",
                                 vocab_, "): the file changed after it was opened and checked"));
      out[i] = int32_t(v);
    }
  }

  // The element at p as int64 (exact for every integer dtype code).
  int64_t value(const unsigned char* p) const {
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

  int64_t document_of(int64_t offset) const {
    return std::max<int64_t>(int64_t(std::upper_bound(docs_.begin(), docs_.end(), offset) - docs_.begin()) - 1, 0);
  }

  std::string idx_path_;
  RandomAccessFile bin_;
  uint8_t code_ = 0;
  size_t item_ = 0;
  int64_t n_ = 0, max_at_ = -1;
  int32_t vocab_ = 0, max_ = -1;
  std::vector<int64_t> docs_;
};

// Parses and checks the index; fills code_, item_, n_ and docs_.
absl::Status parse_index(const std::vector<unsigned char>& bytes, const std::string& idx_path, MegatronDataset& ds) {
  const unsigned char* p = bytes.data();
  const size_t size = bytes.size();
  if (size < megatron::kHeaderBytes)
    return bad(idx_path, absl::StrCat("truncated index (", size, " bytes, header needs ", megatron::kHeaderBytes, ")"));
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
    return bad(idx_path,
               absl::StrCat("truncated index: header claims ", seqs, " sequences and ", docs, " documents"));
  const size_t need = megatron::kHeaderBytes + seqs * (4 + 8) + docs * 8;
  if (size < need)
    return bad(idx_path, absl::StrCat("truncated index (", size, " bytes, ", need, " needed for ", seqs,
                                      " sequences and ", docs, " document indices)"));
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
  if (docs < 1) return bad(idx_path, "no document indices (expected at least [0])");
  for (uint64_t d = 0; d < docs; ++d) {
    const int64_t s = load<int64_t>(doc_idx + d * 8);
    const int64_t prev = d == 0 ? 0 : load<int64_t>(doc_idx + (d - 1) * 8);
    if (s < prev || s > int64_t(seqs) || (d == 0 && s != 0))
      return bad(idx_path, absl::StrCat("document index ", d, " = ", s, " is not ascending from 0 within [0, ", seqs,
                                        "]"));
    // Empty documents add no boundary of their own.
    const int64_t tok = seq_start[s];
    if (tok < ds.n_ && (ds.docs_.empty() || ds.docs_.back() != tok)) ds.docs_.push_back(tok);
  }
  if (ds.n_ > 0 && (ds.docs_.empty() || ds.docs_[0] != 0))
    return bad(idx_path, "the first document does not start at token 0");
  return absl::OkStatus();
}

// The whole index, read once at open (nothing of it is kept but the parse).
absl::StatusOr<std::vector<unsigned char>> read_index(const std::string& idx_path) {
  absl::StatusOr<RandomAccessFile> f = RandomAccessFile::open(idx_path);
  if (!f.ok()) return f.status();
  std::vector<unsigned char> bytes(size_t(f->size()));
  absl::StatusOr<size_t> got = f->read_at(0, bytes.size(), bytes.data());
  if (!got.ok()) return got.status();
  if (*got != bytes.size())
    return bad(idx_path, absl::StrCat("truncated while being opened (", f->size(), " bytes at open, ", *got, " read)"));
  return bytes;
}

// Where an id is checked against at open: the file's own vocabulary (the
// sidecar's), then the one the caller asked for.
struct IdLimits {
  int32_t declared = 0;  // > 0: from the sidecar
  std::string sidecar;
  int32_t requested = 0;  // > 0: open_megatron_dataset's vocab_size
};

absl::Status check_id(const MegatronDataset& ds, int64_t offset, int64_t v, const IdLimits& lim) {
  auto at = [&] { return absl::StrCat(token_location(ds, offset), ": token ", v); };
  if (v < 0) return absl::DataLossError(absl::StrCat(at(), " is negative, not a token id"));
  if (v > std::numeric_limits<int32_t>::max())
    return absl::DataLossError(absl::StrCat(at(), " does not fit a 32-bit token id"));
  if (lim.declared > 0 && v >= lim.declared)
    return absl::DataLossError(absl::StrCat(at(), " is beyond the file's own vocabulary of ", lim.declared,
                                            " ids (declared in ", lim.sidecar,
                                            "): the file is corrupt, or the sidecar belongs to another dataset"));
  if (lim.requested > 0 && v >= lim.requested)
    return absl::DataLossError(absl::StrCat(at(), " is outside the vocabulary [0, ", lim.requested, ") asked for"));
  return absl::OkStatus();
}

// Reads every token once: verifies the sidecar's chunk sums, checks the ids
// and finds max_token. Whole-file at open rather than lazily per chunk:
// open reads every byte anyway for the range check and max_token (which
// config validation needs before step 1), so the hash costs no extra I/O,
// and a corrupt file fails before training rather than days into it.
absl::Status scan_tokens(MegatronDataset& ds, const std::optional<MegatronChecksums>& sums, const IdLimits& lim) {
  const uint64_t total = uint64_t(ds.n_) * ds.item_, step = sums ? sums->chunk_bytes : kScanBytes;
  std::vector<unsigned char> buf(size_t(std::min(step, total)));
  int32_t hi = -1;
  for (uint64_t begin = 0, chunk = 0; begin < total; begin += step, ++chunk) {
    const size_t len = size_t(std::min(step, total - begin));
    absl::StatusOr<size_t> got = ds.bin_.read_at(begin, len, buf.data());
    if (!got.ok()) return got.status();
    if (*got != len)
      return bad(ds.describe(), absl::StrCat("truncated while being opened: bytes [", begin, ", ", begin + len,
                                             ") came back short, the file now holds ", ds.bin_.current_size(),
                                             " bytes"));
    const int64_t first = int64_t(begin / ds.item_), last = int64_t((begin + len) / ds.item_);
    if (sums) {
      const uint64_t h = fnv1a64_bytes({reinterpret_cast<const char*>(buf.data()), len});
      if (h != sums->chunks[chunk])
        return bad(ds.describe(),
                   absl::StrCat("checksum mismatch in chunk ", chunk, " (bytes [", begin, ", ", begin + len,
                                "), tokens [", first, ", ", last, "), documents ", ds.document_of(first), " to ",
                                ds.document_of(last - 1), "): ", lim.sidecar, " says ", hex(sums->chunks[chunk]),
                                ", the data hash to ", hex(h), " (corrupt file)"));
    }
    for (int64_t i = first; i < last; ++i) {
      const int64_t v = ds.value(buf.data() + (i - first) * int64_t(ds.item_));
      if (v > hi || v < 0 || v > std::numeric_limits<int32_t>::max() || (lim.declared > 0 && v >= lim.declared) ||
          (lim.requested > 0 && v >= lim.requested)) {
        if (absl::Status st = check_id(ds, i, v, lim); !st.ok()) return st;
        hi = int32_t(v);
        ds.max_at_ = i;
      }
    }
  }
  ds.max_ = hi;
  return absl::OkStatus();
}

// The sidecar's sizes and index sum against the files.
absl::Status check_sidecar_sizes(const MegatronChecksums& s, const std::string& sidecar,
                                 const std::vector<unsigned char>& idx, const std::string& idx_path,
                                 const MegatronDataset& ds) {
  if (s.idx_bytes != idx.size())
    return bad(idx_path, absl::StrCat("holds ", idx.size(), " bytes, ", sidecar, " says ", s.idx_bytes,
                                      " (truncated, or the sidecar belongs to another dataset)"));
  const uint64_t h = fnv1a64_bytes({reinterpret_cast<const char*>(idx.data()), idx.size()});
  if (h != s.idx_fnv)
    return bad(idx_path, absl::StrCat("checksum mismatch: ", sidecar, " says ", hex(s.idx_fnv),
                                      ", the index hashes to ", hex(h), " (corrupt file)"));
  if (s.bin_bytes != ds.bin_.size())
    return bad(ds.describe(), absl::StrCat("holds ", ds.bin_.size(), " bytes, ", sidecar, " says ", s.bin_bytes,
                                           " (truncated, or the sidecar belongs to another dataset)"));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<TokenDataset>> open_megatron_dataset(const std::string& prefix, int32_t vocab_size) {
  auto ds = std::make_unique<MegatronDataset>();
  ds->idx_path_ = prefix + ".idx";
  const std::string bin_path = prefix + ".bin", sidecar = megatron_checksum_path(prefix);
  absl::StatusOr<std::vector<unsigned char>> idx = read_index(ds->idx_path_);
  if (!idx.ok()) return idx.status();
  absl::StatusOr<RandomAccessFile> bin = RandomAccessFile::open(bin_path);
  if (!bin.ok()) return bin.status();
  ds->bin_ = std::move(*bin);
  absl::StatusOr<std::optional<MegatronChecksums>> sums = read_megatron_checksums(sidecar);
  if (!sums.ok()) return sums.status();
  if (*sums)
    if (absl::Status st = check_sidecar_sizes(**sums, sidecar, *idx, ds->idx_path_, *ds); !st.ok()) return st;
  if (absl::Status st = parse_index(*idx, ds->idx_path_, *ds); !st.ok()) return st;
  const uint64_t expected = uint64_t(ds->n_) * ds->item_;
  if (ds->bin_.size() != expected)
    return bad(bin_path, absl::StrCat("holds ", ds->bin_.size(), " bytes, ", ds->idx_path_, " describes ", expected,
                                      ds->bin_.size() < expected ? " (truncated)" : " (not the .bin of this index)"));

  IdLimits lim;
  lim.declared = *sums ? (*sums)->vocab_size : 0;
  lim.sidecar = sidecar;
  lim.requested = vocab_size;
  if (absl::Status st = scan_tokens(*ds, *sums, lim); !st.ok()) return st;
  ds->vocab_ = vocab_size > 0 ? vocab_size : lim.declared > 0 ? lim.declared : std::max<int32_t>(ds->max_ + 1, 1);
  return std::unique_ptr<TokenDataset>(std::move(ds));
}

}  // namespace moe::data
