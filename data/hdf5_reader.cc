// open_hdf5_dataset / read_hdf5_tokenizer: see data/hdf5_dataset.h.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/error.h"
#include "data/checksum.h"
#include "data/hdf5_dataset.h"
#include "data/hdf5_util.h"

namespace moe::data {
namespace {

constexpr int64_t kStreamBlock = int64_t(1) << 20;  // tokens per read while verifying

class Hdf5TokenDataset final : public TokenDataset {
 public:
  int64_t num_tokens() const override { return n_; }
  int32_t vocab_size() const override { return vocab_; }
  int32_t max_token() const override { return max_; }
  int64_t max_token_offset() const override { return max_at_; }
  const std::vector<int64_t>& doc_offsets() const override { return docs_; }
  std::string describe() const override { return absl::StrCat(path_, ":", split_); }

  void read(int64_t offset, int64_t count, int32_t* out) const override {
    MOE_CHECK(offset >= 0 && count >= 0 && offset + count <= n_, describe(), ": read of [", offset,
              ", ", offset + count, ") outside [0, ", n_, ")");
    if (count == 0) return;
    if (!cache_.empty()) {
      std::memcpy(out, cache_.data() + offset, size_t(count) * sizeof(int32_t));
      return;
    }
    MOE_CHECK(read_range(tokens_.get(), offset, count, out), describe(), ": HDF5 read of tokens [",
              offset, ", ", offset + count, ") failed");
  }

  // Hyperslab read of [offset, offset + count) converted to int32.
  static bool read_range(hid_t dset, int64_t offset, int64_t count, int32_t* out) {
    const hsize_t start = hsize_t(offset), n = hsize_t(count);
    h5::Id fspace(H5Dget_space(dset), H5Sclose);
    h5::Id mspace(H5Screate_simple(1, &n, nullptr), H5Sclose);
    return fspace.valid() && mspace.valid() &&
           H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, &start, nullptr, &n, nullptr) >= 0 &&
           H5Dread(dset, H5T_NATIVE_INT32, mspace.get(), fspace.get(), H5P_DEFAULT, out) >= 0;
  }

  std::string path_, split_;
  int32_t vocab_ = 0, max_ = -1;
  int64_t n_ = 0, max_at_ = -1;
  std::vector<int64_t> docs_;
  std::vector<int32_t> cache_;  // all tokens, or empty when read from the file
  h5::Id file_, tokens_;        // kept open only when not cached
};

// Opens a 1-D integer dataset and checks its element type with `type_ok`.
absl::StatusOr<h5::Id> open_int_array(hid_t group, const char* name, bool (*type_ok)(hid_t),
                                      const char* expected, const std::string& at,
                                      int64_t& length) {
  if (H5Lexists(group, name, H5P_DEFAULT) <= 0)
    return absl::DataLossError(absl::StrCat(at, ": missing dataset '", name, "'"));
  h5::Id dset(H5Dopen2(group, name, H5P_DEFAULT), H5Dclose);
  h5::Id type(dset.valid() ? H5Dget_type(dset.get()) : -1, H5Tclose);
  h5::Id space(dset.valid() ? H5Dget_space(dset.get()) : -1, H5Sclose);
  if (!type.valid() || !space.valid())
    return absl::DataLossError(absl::StrCat(at, "/", name, ": cannot open dataset"));
  if (!type_ok(type.get()))
    return absl::DataLossError(
        absl::StrCat(at, "/", name, ": wrong dtype (class ", int(H5Tget_class(type.get())), ", ",
                     H5Tget_size(type.get()), " bytes), expected ", expected));
  if (H5Sget_simple_extent_ndims(space.get()) != 1)
    return absl::DataLossError(absl::StrCat(at, "/", name, ": expected a 1-D dataset"));
  hsize_t dim = 0;
  H5Sget_simple_extent_dims(space.get(), &dim, nullptr);
  length = int64_t(dim);
  return dset;
}

// Token ids: integers that fit int32 exactly (int8/16/32, uint8/16).
bool token_type_ok(hid_t t) {
  if (H5Tget_class(t) != H5T_INTEGER) return false;
  const size_t size = H5Tget_size(t);
  return size < 4 || (size == 4 && H5Tget_sign(t) == H5T_SGN_2);
}

bool offset_type_ok(hid_t t) {
  return H5Tget_class(t) == H5T_INTEGER && H5Tget_size(t) == 8 && H5Tget_sign(t) == H5T_SGN_2;
}

absl::StatusOr<h5::Id> open_file(const std::string& path) {
  h5::silence_errors();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  if (H5Fis_hdf5(path.c_str()) <= 0)
    return absl::DataLossError(absl::StrCat(path, ": not an HDF5 file"));
  h5::Id file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.valid())
    return absl::DataLossError(
        absl::StrCat(path, ": cannot open the HDF5 file (truncated or corrupt)"));
  absl::StatusOr<std::string> format = h5::read_string_attr(file.get(), "format", path);
  if (!format.ok()) return format.status();
  if (*format != "moe-tokens")
    return absl::DataLossError(
        absl::StrCat(path, ": format is '", *format, "', not a moe-prep token dataset"));
  absl::StatusOr<int64_t> version = h5::read_int64_attr(file.get(), "format_version", path);
  if (!version.ok()) return version.status();
  if (*version != kHdf5FormatVersion)
    return absl::DataLossError(absl::StrCat(path, ": format_version ", *version,
                                            " is not supported (this build reads ",
                                            kHdf5FormatVersion, ")"));
  return file;
}

std::vector<std::string> group_names(hid_t file) {
  std::vector<std::string> names;
  H5Literate(
      file, H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t loc, const char* name, const H5L_info_t*, void* op) -> herr_t {
        // Opening as a group is the test (H5Oget_info changed across versions).
        h5::Id g(H5Gopen2(loc, name, H5P_DEFAULT), H5Gclose);
        if (g.valid()) static_cast<std::vector<std::string>*>(op)->push_back(name);
        return 0;
      },
      &names);
  return names;
}

std::string hex(uint64_t v) { return absl::StrFormat("0x%016x", v); }

// Reads doc_offsets fully and checks checksum and structure.
absl::Status load_doc_offsets(hid_t group, const std::string& at, Hdf5TokenDataset& ds) {
  int64_t count = 0;
  absl::StatusOr<h5::Id> dset =
      open_int_array(group, "doc_offsets", offset_type_ok, "int64", at, count);
  if (!dset.ok()) return dset.status();
  ds.docs_.resize(size_t(count));
  if (count > 0 &&
      H5Dread(dset->get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, ds.docs_.data()) < 0)
    return absl::DataLossError(absl::StrCat(at, "/doc_offsets: read failed (corrupt file)"));
  absl::StatusOr<uint64_t> stored = h5::read_uint64_attr(group, "doc_offsets_fnv1a64", at);
  if (!stored.ok()) return stored.status();
  Fnv1a64 h;
  h.update(std::span<const int64_t>(ds.docs_));
  if (h.value() != *stored)
    return absl::DataLossError(absl::StrCat(at, "/doc_offsets: checksum mismatch (stored ",
                                            hex(*stored), ", computed ", hex(h.value()), ")"));
  if (absl::Status st = validate_doc_offsets(ds.docs_, ds.n_, at + "/doc_offsets"); !st.ok())
    return absl::DataLossError(st.message());
  return absl::OkStatus();
}

// Reads all tokens (into the cache, or block by block) to verify checksum
// and id range and to find max_token.
absl::Status verify_tokens(hid_t dset, const std::string& at, bool keep, Hdf5TokenDataset& ds,
                           uint64_t stored) {
  Fnv1a64 h;
  int32_t lo = std::numeric_limits<int32_t>::max(), hi = -1;
  int64_t lo_at = -1;
  std::vector<int32_t> block;
  if (keep) ds.cache_.resize(size_t(ds.n_));
  for (int64_t off = 0; off < ds.n_; off += kStreamBlock) {
    const int64_t cnt = std::min(kStreamBlock, ds.n_ - off);
    int32_t* out = keep ? ds.cache_.data() + off : (block.resize(size_t(cnt)), block.data());
    if (!Hdf5TokenDataset::read_range(dset, off, cnt, out))
      return absl::DataLossError(
          absl::StrCat(at, "/tokens: read of [", off, ", ", off + cnt, ") failed (corrupt file)"));
    const std::span<const int32_t> part(out, size_t(cnt));
    h.update(part);
    const auto [mn, mx] = std::minmax_element(part.begin(), part.end());
    if (*mn < lo) {
      lo = *mn;
      lo_at = off + (mn - part.begin());
    }
    if (*mx > hi) {
      hi = *mx;
      ds.max_at_ = off + (mx - part.begin());
    }
  }
  if (h.value() != stored)
    return absl::DataLossError(absl::StrCat(at, "/tokens: checksum mismatch (stored ", hex(stored),
                                            ", computed ", hex(h.value()), ")"));
  if (ds.n_ > 0 && (lo < 0 || hi >= ds.vocab_)) {
    const bool low = lo < 0;
    return absl::DataLossError(absl::StrCat(
        token_location(ds, low ? lo_at : ds.max_at_), ": token ", low ? lo : hi,
        " is outside the file's own vocabulary [0, ", ds.vocab_, ") (ids span [", lo, ", ", hi, "])"));
  }
  ds.max_ = hi;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<TokenDataset>> open_hdf5_dataset(const std::string& path,
                                                                const std::string& split,
                                                                const Hdf5OpenOptions& options) {
  absl::StatusOr<h5::Id> file = open_file(path);
  if (!file.ok()) return file.status();
  auto ds = std::make_unique<Hdf5TokenDataset>();
  ds->path_ = path;
  ds->split_ = split;
  absl::StatusOr<int64_t> vocab = h5::read_int64_attr(file->get(), "vocab_size", path);
  if (!vocab.ok()) return vocab.status();
  if (*vocab < 1 || *vocab > std::numeric_limits<int32_t>::max())
    return absl::DataLossError(absl::StrCat(path, ": vocab_size ", *vocab, " is out of range"));
  ds->vocab_ = int32_t(*vocab);

  const std::string at = absl::StrCat(path, ":/", split);
  if (split.empty() || split.find('/') != std::string::npos ||
      H5Lexists(file->get(), split.c_str(), H5P_DEFAULT) <= 0)
    return absl::NotFoundError(absl::StrCat(path, ": no split '", split, "' (the file has: ",
                                            absl::StrJoin(group_names(file->get()), ", "), ")"));
  h5::Id group(H5Gopen2(file->get(), split.c_str(), H5P_DEFAULT), H5Gclose);
  if (!group.valid()) return absl::DataLossError(absl::StrCat(at, ": cannot open group"));

  absl::StatusOr<h5::Id> tokens = open_int_array(group.get(), "tokens", token_type_ok,
                                                 "an integer type of at most 32 bits", at, ds->n_);
  if (!tokens.ok()) return tokens.status();
  absl::StatusOr<int64_t> stored_n = h5::read_int64_attr(group.get(), "num_tokens", at);
  if (!stored_n.ok()) return stored_n.status();
  if (*stored_n != ds->n_)
    return absl::DataLossError(absl::StrCat(at, ": num_tokens attribute says ", *stored_n,
                                            ", tokens dataset holds ", ds->n_));
  absl::StatusOr<uint64_t> sum = h5::read_uint64_attr(group.get(), "tokens_fnv1a64", at);
  if (!sum.ok()) return sum.status();
  if (absl::Status st = load_doc_offsets(group.get(), at, *ds); !st.ok()) return st;

  const bool keep = ds->n_ * int64_t(sizeof(int32_t)) <= options.max_cached_bytes;
  if (absl::Status st = verify_tokens(tokens->get(), at, keep, *ds, *sum); !st.ok()) return st;
  if (!keep) {
    ds->tokens_ = std::move(*tokens);
    ds->file_ = std::move(*file);
  }
  return std::unique_ptr<TokenDataset>(std::move(ds));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> read_hdf5_tokenizer(const std::string& path) {
  absl::StatusOr<h5::Id> file = open_file(path);
  if (!file.ok()) return file.status();
  absl::StatusOr<std::string> kind = h5::read_string_attr(file->get(), "tokenizer_kind", path);
  if (!kind.ok()) return kind.status();
  int64_t n = 0;
  absl::StatusOr<h5::Id> dset = open_int_array(
      file->get(), "tokenizer",
      [](hid_t t) { return H5Tget_class(t) == H5T_INTEGER && H5Tget_size(t) == 1; }, "uint8",
      path + ":", n);
  if (!dset.ok()) return dset.status();
  std::string blob(size_t(n), '\0');
  if (n > 0 &&
      H5Dread(dset->get(), H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, blob.data()) < 0)
    return absl::DataLossError(absl::StrCat(path, ":/tokenizer: read failed (corrupt file)"));
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = make_tokenizer(*kind, blob);
  if (!tok.ok()) return absl::DataLossError(absl::StrCat(path, ": ", tok.status().message()));
  return tok;
}

}  // namespace moe::data
