// write_token_dataset: see data/hdf5_dataset.h for the layout.
#include <algorithm>
#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "data/checksum.h"
#include "data/hdf5_dataset.h"
#include "data/hdf5_util.h"

namespace moe::data {
namespace {

constexpr hsize_t kChunk = hsize_t(1) << 18;

// Creates a 1-D dataset `name` under `loc` holding `n` elements of `file_type`
// written from memory of `mem_type`. Empty datasets are contiguous (a chunk
// may not exceed a fixed dimension of 0).
absl::Status write_array(hid_t loc, const char* name, hid_t file_type, hid_t mem_type,
                         const void* data, hsize_t n, const std::string& where) {
  h5::Id space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  h5::Id dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (!space.valid() || !dcpl.valid())
    return absl::InternalError(absl::StrCat(where, ": cannot set up dataset '", name, "'"));
  if (n > 0) {
    const hsize_t chunk = std::min(n, kChunk);
    H5Pset_chunk(dcpl.get(), 1, &chunk);
    // Compression is optional: a build without the filters stores raw chunks.
    if (H5Zfilter_avail(H5Z_FILTER_SHUFFLE) > 0) H5Pset_shuffle(dcpl.get());
    if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0) H5Pset_deflate(dcpl.get(), 1);
  }
  h5::Id dset(H5Dcreate2(loc, name, file_type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
              H5Dclose);
  if (!dset.valid() ||
      (n > 0 && H5Dwrite(dset.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0))
    return absl::InternalError(absl::StrCat(where, ": cannot write dataset '", name, "'"));
  return absl::OkStatus();
}

absl::Status write_split(hid_t file, const TokenSplit& s, int32_t vocab_size,
                         const std::string& where) {
  const std::string at = absl::StrCat(where, ":/", s.name);
  h5::Id group(H5Gcreate2(file, s.name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
  if (!group.valid()) return absl::InternalError(absl::StrCat(at, ": cannot create group"));
  // uint16 halves the file for every vocabulary up to 65536 ids; HDF5
  // converts from our int32 buffer while writing.
  const hid_t token_type = vocab_size <= 65536 ? H5T_STD_U16LE : H5T_STD_I32LE;
  absl::Status st = write_array(group.get(), "tokens", token_type, H5T_NATIVE_INT32,
                                s.tokens.data(), s.tokens.size(), at);
  if (st.ok())
    st = write_array(group.get(), "doc_offsets", H5T_STD_I64LE, H5T_NATIVE_INT64,
                     s.doc_offsets.data(), s.doc_offsets.size(), at);
  Fnv1a64 tok_hash, doc_hash;
  tok_hash.update(std::span<const int32_t>(s.tokens));
  doc_hash.update(std::span<const int64_t>(s.doc_offsets));
  if (st.ok()) st = h5::write_int64_attr(group.get(), "num_tokens", int64_t(s.tokens.size()), at);
  if (st.ok()) st = h5::write_uint64_attr(group.get(), "tokens_fnv1a64", tok_hash.value(), at);
  if (st.ok()) st = h5::write_uint64_attr(group.get(), "doc_offsets_fnv1a64", doc_hash.value(), at);
  return st;
}

absl::Status write_file(hid_t file, const Tokenizer& tokenizer, std::span<const TokenSplit> splits,
                        const std::string& where) {
  absl::Status st = h5::write_string_attr(file, "format", "moe-tokens", where);
  if (st.ok()) st = h5::write_int64_attr(file, "format_version", kHdf5FormatVersion, where);
  if (st.ok()) st = h5::write_string_attr(file, "tokenizer_kind", tokenizer.kind(), where);
  if (st.ok()) st = h5::write_int64_attr(file, "vocab_size", tokenizer.vocab_size(), where);
  const std::string blob = tokenizer.serialize();
  if (st.ok())
    st = write_array(file, "tokenizer", H5T_STD_U8LE, H5T_NATIVE_UCHAR, blob.data(), blob.size(),
                     where);
  for (const TokenSplit& s : splits) {
    if (!st.ok()) break;
    st = write_split(file, s, tokenizer.vocab_size(), where);
  }
  return st;
}

}  // namespace

absl::Status write_token_dataset(const std::string& path, const Tokenizer& tokenizer,
                                 std::span<const TokenSplit> splits) {
  h5::silence_errors();
  std::set<std::string> names;
  for (const TokenSplit& s : splits) {
    if (absl::Status st = validate_token_split(s, tokenizer.vocab_size(), path); !st.ok())
      return st;
    if (!names.insert(s.name).second)
      return absl::InvalidArgumentError(absl::StrCat(path, ": split '", s.name, "' given twice"));
  }
  const std::string tmp = path + ".tmp";
  // The 1.10 file format checksums its metadata (superblock, object headers,
  // chunk indexes), so HDF5 itself detects corrupt metadata on open; our
  // checksums cover the token data. Readable by HDF5 >= 1.10.
  h5::Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (!fapl.valid() || H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V110, H5F_LIBVER_LATEST) < 0)
    return absl::InternalError(absl::StrCat(path, ": cannot set HDF5 file format bounds"));
  h5::Id file(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), H5Fclose);
  if (!file.valid())
    return absl::PermissionDeniedError(
        absl::StrCat(path, ": cannot create the temporary file ", tmp));
  absl::Status st = write_file(file.get(), tokenizer, splits, tmp);
  // Closing flushes; a failure there (disk full) must not be renamed into place.
  if (!file.reset() && st.ok()) st = absl::InternalError(absl::StrCat(tmp, ": cannot close/flush"));
  std::error_code ec;
  if (st.ok()) {
    std::filesystem::rename(tmp, path, ec);
    if (ec)
      st = absl::InternalError(
          absl::StrCat("cannot rename ", tmp, " to ", path, ": ", ec.message()));
  }
  if (!st.ok()) std::filesystem::remove(tmp, ec);
  return st;
}

}  // namespace moe::data
