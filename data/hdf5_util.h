#pragma once
// Small helpers over the HDF5 C API for the dataset reader and writer: an
// owning handle, scalar attributes, and silencing HDF5's own error printing
// (we report errors through absl::Status instead).
#include <hdf5.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace moe::data::h5 {

// Owns an hid_t and closes it with the matching H5?close.
class Id {
 public:
  using Closer = herr_t (*)(hid_t);
  Id() = default;
  Id(hid_t id, Closer close) : id_(id), close_(close) {}
  Id(Id&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Id& operator=(Id&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = o.id_;
      close_ = o.close_;
      o.id_ = -1;
    }
    return *this;
  }
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  ~Id() { reset(); }

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  // Closes now; returns false when HDF5 reports a failure (e.g. on flush).
  bool reset() {
    bool ok = true;
    if (id_ >= 0) ok = close_(id_) >= 0;
    id_ = -1;
    return ok;
  }

 private:
  hid_t id_ = -1;
  Closer close_ = nullptr;
};

// Turns off HDF5's automatic error-stack printing (idempotent).
void silence_errors();

// Scalar attributes on an object. `where` prefixes error messages
// ("file.h5:/train").
absl::Status write_string_attr(hid_t loc, const char* name, const std::string& value,
                               const std::string& where);
absl::Status write_int64_attr(hid_t loc, const char* name, int64_t value, const std::string& where);
absl::Status write_uint64_attr(hid_t loc, const char* name, uint64_t value,
                               const std::string& where);
absl::StatusOr<std::string> read_string_attr(hid_t loc, const char* name, const std::string& where);
absl::StatusOr<int64_t> read_int64_attr(hid_t loc, const char* name, const std::string& where);
absl::StatusOr<uint64_t> read_uint64_attr(hid_t loc, const char* name, const std::string& where);

}  // namespace moe::data::h5
