#include "data/hdf5_util.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"

namespace moe::data::h5 {

void silence_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

namespace {

absl::Status write_attr(hid_t loc, const char* name, hid_t file_type, hid_t mem_type,
                        const void* value, const std::string& where) {
  Id space(H5Screate(H5S_SCALAR), H5Sclose);
  Id attr(
      space.valid() ? H5Acreate2(loc, name, file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT) : -1,
      H5Aclose);
  if (!attr.valid() || H5Awrite(attr.get(), mem_type, value) < 0)
    return absl::InternalError(absl::StrCat(where, ": cannot write attribute '", name, "'"));
  return absl::OkStatus();
}

// Opens attribute `name`, checking it exists and has the type class wanted.
absl::StatusOr<Id> open_attr(hid_t loc, const char* name, H5T_class_t cls, const char* what,
                             const std::string& where) {
  if (H5Aexists(loc, name) <= 0)
    return absl::DataLossError(absl::StrCat(where, ": missing attribute '", name, "'"));
  Id attr(H5Aopen(loc, name, H5P_DEFAULT), H5Aclose);
  Id type(attr.valid() ? H5Aget_type(attr.get()) : -1, H5Tclose);
  if (!type.valid())
    return absl::DataLossError(absl::StrCat(where, ": cannot open attribute '", name, "'"));
  if (H5Tget_class(type.get()) != cls)
    return absl::DataLossError(absl::StrCat(where, ": attribute '", name, "' is not ", what));
  return attr;
}

}  // namespace

absl::Status write_string_attr(hid_t loc, const char* name, const std::string& value,
                               const std::string& where) {
  // Fixed-length, NUL-padded; an empty string is stored as one NUL byte.
  Id type(H5Tcopy(H5T_C_S1), H5Tclose);
  if (!type.valid() || H5Tset_size(type.get(), std::max<size_t>(value.size(), 1)) < 0 ||
      H5Tset_strpad(type.get(), H5T_STR_NULLPAD) < 0)
    return absl::InternalError(absl::StrCat(where, ": cannot make string type for '", name, "'"));
  std::string padded = value;
  if (padded.empty()) padded.push_back('\0');
  return write_attr(loc, name, type.get(), type.get(), padded.data(), where);
}

absl::Status write_int64_attr(hid_t loc, const char* name, int64_t value,
                              const std::string& where) {
  return write_attr(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value, where);
}

absl::Status write_uint64_attr(hid_t loc, const char* name, uint64_t value,
                               const std::string& where) {
  return write_attr(loc, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &value, where);
}

absl::StatusOr<std::string> read_string_attr(hid_t loc, const char* name,
                                             const std::string& where) {
  absl::StatusOr<Id> attr = open_attr(loc, name, H5T_STRING, "a string", where);
  if (!attr.ok()) return attr.status();
  Id type(H5Aget_type(attr->get()), H5Tclose);
  if (H5Tis_variable_str(type.get()) != 0)
    return absl::DataLossError(
        absl::StrCat(where, ": attribute '", name, "' is not a fixed-length string"));
  std::vector<char> buf(H5Tget_size(type.get()));
  if (buf.empty() || H5Aread(attr->get(), type.get(), buf.data()) < 0)
    return absl::DataLossError(absl::StrCat(where, ": cannot read attribute '", name, "'"));
  std::string s(buf.begin(), buf.end());
  while (!s.empty() && s.back() == '\0') s.pop_back();
  return s;
}

absl::StatusOr<int64_t> read_int64_attr(hid_t loc, const char* name, const std::string& where) {
  absl::StatusOr<Id> attr = open_attr(loc, name, H5T_INTEGER, "an integer", where);
  if (!attr.ok()) return attr.status();
  int64_t v = 0;
  if (H5Aread(attr->get(), H5T_NATIVE_INT64, &v) < 0)
    return absl::DataLossError(absl::StrCat(where, ": cannot read attribute '", name, "'"));
  return v;
}

absl::StatusOr<uint64_t> read_uint64_attr(hid_t loc, const char* name, const std::string& where) {
  absl::StatusOr<Id> attr = open_attr(loc, name, H5T_INTEGER, "an integer", where);
  if (!attr.ok()) return attr.status();
  uint64_t v = 0;
  if (H5Aread(attr->get(), H5T_NATIVE_UINT64, &v) < 0)
    return absl::DataLossError(absl::StrCat(where, ": cannot read attribute '", name, "'"));
  return v;
}

}  // namespace moe::data::h5
