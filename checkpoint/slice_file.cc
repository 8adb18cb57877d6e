#include "checkpoint/slice_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "checkpoint/fs.h"
#include "checkpoint/region.h"
#include "checkpoint/test_hook.h"
#include "core/ops.h"
#include "data/checksum.h"
#include "data/hdf5_util.h"

namespace moe::checkpoint {
namespace h5 = data::h5;
namespace {

struct H5Types {
  hid_t file, mem;
};
H5Types h5_types(DType t) {
  switch (t) {
    case DType::f64: return {H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE};
    case DType::f32: return {H5T_IEEE_F32LE, H5T_NATIVE_FLOAT};
    case DType::i32: return {H5T_STD_I32LE, H5T_NATIVE_INT32};
    case DType::i64: return {H5T_STD_I64LE, H5T_NATIVE_INT64};
    case DType::bf16: case DType::f16: return {H5T_STD_U16LE, H5T_NATIVE_UINT16};
    case DType::f8e4m3: case DType::f8e5m2: case DType::b8: return {H5T_STD_U8LE, H5T_NATIVE_UINT8};
  }
  return {H5T_STD_U8LE, H5T_NATIVE_UINT8};
}

uint64_t checksum(const Tensor& contiguous) {
  data::Fnv1a64 h;
  h.update(contiguous.raw_data(), size_t(contiguous.numel()) * dtype_size(contiguous.dtype()));
  return h.value();
}

// Rank-0 tensors are HDF5 scalar dataspaces.
h5::Id make_space(const Shape& shape) {
  if (shape.empty()) return h5::Id(H5Screate(H5S_SCALAR), H5Sclose);
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  return h5::Id(H5Screate_simple(int(dims.size()), dims.data(), nullptr), H5Sclose);
}

// The errno HDF5's POSIX (sec2) driver recorded for the call that just
// failed (its messages read "..., errno = 28, error message = '...'"), or 0.
int h5_errno() {
  int err = 0;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned, const H5E_error2_t* e, void* out) -> herr_t {
        const char* p = e->desc ? std::strstr(e->desc, "errno = ") : nullptr;
        int& found = *static_cast<int*>(out);
        if (p && found == 0) found = std::atoi(p + 8);
        return 0;
      },
      &err);
  return err;
}

// A rank file open for writing. HDF5 must never fail to close it: a failed
// H5Fclose (its final flush meeting ENOSPC or EIO) leaves the file
// half-destroyed in HDF5's tables, and the library then crashes (SIGSEGV at
// exit, in H5F__close_cb, or at the next call that walks them). So after
// the first failure the file's descriptor is swapped for an anonymous
// in-memory file (divert): whatever HDF5 still flushes while closing lands
// there, the close succeeds and releases every handle, and the partial
// file on disk is removed by the caller.
class RankFile {
 public:
  explicit RankFile(std::string path) : path_(std::move(path)) {}
  RankFile(const RankFile&) = delete;
  RankFile& operator=(const RankFile&) = delete;
  ~RankFile() {
    if (!file_.valid()) return;
    divert();  // an early exit (exception): nothing of this file is kept
    file_.reset();
  }

  absl::Status create() {
    // The 1.10 format checksums HDF5's own metadata, so a corrupted header is
    // caught at open; our checksums cover the data. A strong close degree
    // makes H5Fclose close any object still open in the file.
    h5::Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    if (!fapl.valid() || H5Pset_fapl_sec2(fapl.get()) < 0 ||
        H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V110, H5F_LIBVER_LATEST) < 0 ||
        H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG) < 0)
      return absl::InternalError(absl::StrCat(path_, ": cannot set HDF5 file access properties"));
    file_ = h5::Id(H5Fcreate(path_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), H5Fclose);
    if (!file_.valid()) return error(absl::StrCat(path_, ": cannot create the file"));
    return absl::OkStatus();
  }
  hid_t get() const { return file_.get(); }
  const std::string& path() const { return path_; }

  // The error of the HDF5 call that just failed (before any other HDF5
  // call clears its error stack): `msg` then errno's text. Diverts the file
  // so that closing it cannot fail too.
  absl::Status error(const std::string& msg) {
    const int err = h5_errno();
    divert();
    return err != 0 ? fs::errno_status(err, msg) : absl::InternalError(absl::StrCat(msg, " (HDF5 gave no errno)"));
  }

  // Test hook: from now on every write to the file fails with a real ENOSPC.
  void fill_disk() {
    const int full = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
    if (full >= 0 && fd() >= 0) ::dup2(full, fd());
    if (full >= 0) ::close(full);
  }

  // Flushes (the last point where a failure can still be diverted), then
  // closes. OK only when the file on disk is complete.
  absl::Status close(absl::Status st) {
    if (st.ok() && !diverted_ && H5Fflush(file_.get(), H5F_SCOPE_LOCAL) < 0) st = error(absl::StrCat(path_, ": cannot flush"));
    if (!file_.reset() && st.ok())
      st = absl::InternalError(absl::StrCat(path_, ": HDF5 could not close the file after flushing it"));
    return st;
  }

 private:
  int fd() const {
    void* h = nullptr;
    if (!file_.valid() || H5Fget_vfd_handle(file_.get(), H5P_DEFAULT, &h) < 0 || h == nullptr) return -1;
    return *static_cast<int*>(h);
  }
  void divert() {
    if (diverted_) return;
    const int fd_now = fd();
    if (fd_now < 0) return;
    const int mem = ::memfd_create("moe-ckpt-discarded", MFD_CLOEXEC);
    if (mem < 0) return;  // then the close may fail; the error is still reported
    if (::dup2(mem, fd_now) >= 0) diverted_ = true;
    ::close(mem);
  }

  std::string path_;
  h5::Id file_;
  bool diverted_ = false;
};

absl::Status write_one(RankFile& file, const SaveTensor& t, TensorRecord& rec) {
  const std::string& where = file.path();
  const std::string at = absl::StrCat(where, ":/", t.name);
  if (t.name.empty() || t.name.find('/') != std::string::npos)
    return absl::InvalidArgumentError(absl::StrCat(where, ": tensor name '", t.name, "' is empty or has a '/'"));
  if (!t.local.defined() || !t.local.device().is_cpu())
    return absl::InvalidArgumentError(absl::StrCat(at, ": tensor is undefined or not on the CPU"));
  const Tensor c = t.local.detach().contiguous();
  const Shape global = t.shard.global_shape(c.shape());
  if (absl::StatusOr<Box> b = slice_box(global, t.shard.dim, t.shard.index, t.shard.count, t.name); !b.ok())
    return b.status();
  const H5Types ty = h5_types(c.dtype());
  h5::Id space = make_space(c.shape());
  if (!space.valid()) return file.error(absl::StrCat(at, ": cannot make the dataspace"));
  h5::Id dset(
      H5Dcreate2(file.get(), ("/" + t.name).c_str(), ty.file, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
      H5Dclose);
  if (!dset.valid()) {
    absl::Status st = file.error(absl::StrCat(at, ": cannot create dataset"));
    if (H5Lexists(file.get(), ("/" + t.name).c_str(), H5P_DEFAULT) > 0)
      return absl::InvalidArgumentError(absl::StrCat(at, ": cannot create dataset (tensor given twice on this rank)"));
    return st;
  }
  if (c.numel() > 0 && H5Dwrite(dset.get(), ty.mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, c.raw_data()) < 0)
    return file.error(absl::StrCat(at, ": cannot write dataset"));
  const uint64_t sum = checksum(c);
  absl::Status st = h5::write_uint64_attr(dset.get(), "fnv1a64", sum, at);
  if (st.ok()) st = h5::write_string_attr(dset.get(), "dtype", dtype_name(c.dtype()), at);
  if (st.ok()) st = h5::write_int64_attr(dset.get(), "shard_dim", t.shard.dim, at);
  if (st.ok()) st = h5::write_int64_attr(dset.get(), "shard_index", t.shard.index, at);
  if (st.ok()) st = h5::write_int64_attr(dset.get(), "shard_count", t.shard.count, at);
  if (!st.ok()) return file.error(std::string(st.message()));
  // Closing the dataset may flush HDF5's metadata cache: the first place a
  // full disk often shows.
  if (!dset.reset()) return file.error(absl::StrCat(at, ": cannot close dataset"));
  rec.set_name(t.name);
  for (int64_t d : global) rec.add_global_shape(d);
  rec.set_dtype(dtype_name(c.dtype()));
  SliceRecord* s = rec.add_slices();
  s->set_dataset("/" + t.name);
  s->set_dim(t.shard.dim < 0 ? -1 : t.shard.dim);
  s->set_index(t.shard.dim < 0 ? 0 : t.shard.index);
  s->set_count(t.shard.dim < 0 ? 1 : t.shard.count);
  s->set_fnv1a64(sum);
  s->set_bytes(int64_t(c.numel() * int64_t(dtype_size(c.dtype()))));
  return absl::OkStatus();
}

}  // namespace

std::string rank_file_name(int rank) { return absl::StrFormat("rank_%05d.h5", rank); }

absl::StatusOr<DType> dtype_from_name(const std::string& name) {
  for (DType t : {DType::f64, DType::f32, DType::bf16, DType::f16, DType::f8e4m3, DType::f8e5m2, DType::i32,
                  DType::i64, DType::b8})
    if (name == dtype_name(t)) return t;
  return absl::DataLossError(absl::StrCat("unknown dtype '", name, "'"));
}

int64_t recorded_file_bytes(const CheckpointMeta& meta, const std::string& file) {
  for (const FileRecord& f : meta.files())
    if (f.name() == file) return f.bytes();
  return -1;
}

int64_t estimated_file_bytes(const std::vector<SaveTensor>& tensors) {
  // Measured with this format: about 450 bytes per dataset (object header,
  // five attributes, link) over its data, and 2 KiB per file (superblock,
  // root group); taken 4x and 8x to cover long names.
  constexpr int64_t kPerDataset = 2048, kPerFile = 16384;
  int64_t bytes = 0, n = 0;
  for (const SaveTensor& t : tensors) {
    if (!t.write || !t.local.defined()) continue;
    bytes += t.local.numel() * int64_t(dtype_size(t.local.dtype())) + kPerDataset;
    ++n;
  }
  return n == 0 ? 0 : bytes + kPerFile;
}

absl::StatusOr<WrittenFile> write_rank_file(const std::string& dir, int rank, const std::vector<SaveTensor>& tensors,
                                            int fail_errno) {
  WrittenFile out;
  int64_t count = 0;
  for (const SaveTensor& t : tensors) count += t.write ? 1 : 0;
  if (count == 0) return out;
  h5::silence_errors();
  const std::string name = rank_file_name(rank);
  const std::string path = dir + "/" + name;
  if (fail_errno != 0 && fail_errno != ENOSPC)
    return fs::errno_status(fail_errno, absl::StrCat(path, ": cannot create the file"));
  absl::Status st;
  {
    RankFile file(path);
    st = file.create();
    int64_t done = 0;
    for (const SaveTensor& t : tensors) {
      if (!st.ok()) break;
      if (!t.write) continue;
      if (fail_errno == ENOSPC && done == count / 2) file.fill_disk();
      TensorRecord rec;
      st = write_one(file, t, rec);
      if (!st.ok()) break;
      ++done;
      rec.mutable_slices(0)->set_file(name);
      rec.mutable_slices(0)->set_rank(rank);
      out.tensors.push_back(std::move(rec));
    }
    st = file.close(std::move(st));
  }
  if (st.ok()) st = fs::fsync_path(path);
  if (!st.ok()) {
    ::unlink(path.c_str());  // give the space back at once, not when rank 0 removes the directory
    return st;
  }
  out.file.set_name(name);
  out.file.set_bytes(fs::file_size(path));
  out.file.set_rank(rank);
  test_kill_point("after_file");
  return out;
}

absl::StatusOr<Tensor> read_slice(const std::string& step_dir, const TensorRecord& t, const SliceRecord& s,
                                  int64_t expected_file_bytes, bool verify) {
  const std::string path = step_dir + "/" + s.file();
  const std::string at = absl::StrCat(path, ":", s.dataset(), " (tensor ", t.name(), ", slice ", s.index(), " of ",
                                      s.count(), ")");
  const int64_t size = fs::file_size(path);
  if (size < 0) return absl::NotFoundError(absl::StrCat(path, ": file missing (holds tensor ", t.name(), ")"));
  if (expected_file_bytes >= 0 && size != expected_file_bytes)
    return absl::DataLossError(absl::StrCat(path, ": ", size, " bytes, the checkpoint recorded ",
                                            expected_file_bytes, size < expected_file_bytes ? " (truncated)" : "",
                                            " (holds tensor ", t.name(), ")"));
  absl::StatusOr<DType> dtype = dtype_from_name(t.dtype());
  if (!dtype.ok()) return absl::DataLossError(absl::StrCat(at, ": ", dtype.status().message()));
  absl::StatusOr<Box> box = slice_box(global_shape_of(t), s.dim(), s.index(), s.count(), t.name());
  if (!box.ok()) return absl::DataLossError(absl::StrCat(at, ": ", box.status().message()));
  h5::silence_errors();
  h5::Id file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.valid())
    return absl::DataLossError(absl::StrCat(path, ": not a readable HDF5 file (truncated or corrupt; holds tensor ",
                                            t.name(), ")"));
  h5::Id dset(H5Dopen2(file.get(), s.dataset().c_str(), H5P_DEFAULT), H5Dclose);
  if (!dset.valid()) return absl::DataLossError(absl::StrCat(at, ": dataset missing or unreadable"));
  h5::Id space(H5Dget_space(dset.get()), H5Sclose);
  h5::Id type(H5Dget_type(dset.get()), H5Tclose);
  const int rank = space.valid() ? H5Sget_simple_extent_ndims(space.get()) : -1;
  std::vector<hsize_t> dims(size_t(std::max(rank, 0)));
  if (rank < 0 || !type.valid() || H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) < 0)
    return absl::DataLossError(absl::StrCat(at, ": cannot read the dataset's shape or type"));
  const Shape want = box->size;
  if (Shape(dims.begin(), dims.end()) != want)
    return absl::DataLossError(absl::StrCat(at, ": dataset shape ", shape_str(Shape(dims.begin(), dims.end())),
                                            ", the checkpoint recorded ", shape_str(want)));
  if (H5Tget_size(type.get()) != dtype_size(*dtype))
    return absl::DataLossError(absl::StrCat(at, ": dataset element size ", H5Tget_size(type.get()),
                                            " bytes does not match dtype ", t.dtype()));
  if (!verify) return Tensor();
  Tensor buf = empty(want, *dtype);
  if (buf.numel() > 0 &&
      H5Dread(dset.get(), h5_types(*dtype).mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.raw_data()) < 0)
    return absl::DataLossError(absl::StrCat(at, ": cannot read the data (file corrupt?)"));
  const uint64_t sum = checksum(buf);
  if (sum != s.fnv1a64())
    return absl::DataLossError(absl::StrFormat("%s: checksum mismatch (recorded %016x, data %016x): corrupted data",
                                               at, s.fnv1a64(), sum));
  absl::StatusOr<uint64_t> attr = h5::read_uint64_attr(dset.get(), "fnv1a64", at);
  if (!attr.ok()) return attr.status();
  if (*attr != s.fnv1a64())
    return absl::DataLossError(absl::StrFormat("%s: dataset checksum attribute %016x differs from the index's %016x",
                                               at, *attr, s.fnv1a64()));
  return buf;
}

}  // namespace moe::checkpoint
