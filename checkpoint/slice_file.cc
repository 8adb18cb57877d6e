#include "checkpoint/slice_file.h"

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

absl::Status write_one(hid_t file, const SaveTensor& t, const std::string& where, TensorRecord& rec) {
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
  h5::Id dset(space.valid() ? H5Dcreate2(file, ("/" + t.name).c_str(), ty.file, space.get(), H5P_DEFAULT,
                                         H5P_DEFAULT, H5P_DEFAULT)
                            : -1,
              H5Dclose);
  if (!dset.valid())
    return absl::InternalError(absl::StrCat(at, ": cannot create dataset (tensor given twice on this rank?)"));
  if (c.numel() > 0 && H5Dwrite(dset.get(), ty.mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, c.raw_data()) < 0)
    return absl::InternalError(absl::StrCat(at, ": cannot write dataset"));
  const uint64_t sum = checksum(c);
  absl::Status st = h5::write_uint64_attr(dset.get(), "fnv1a64", sum, at);
  if (st.ok()) st = h5::write_string_attr(dset.get(), "dtype", dtype_name(c.dtype()), at);
  if (st.ok()) st = h5::write_int64_attr(dset.get(), "shard_dim", t.shard.dim, at);
  if (st.ok()) st = h5::write_int64_attr(dset.get(), "shard_index", t.shard.index, at);
  if (st.ok()) st = h5::write_int64_attr(dset.get(), "shard_count", t.shard.count, at);
  if (!st.ok()) return st;
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

absl::StatusOr<WrittenFile> write_rank_file(const std::string& dir, int rank, const std::vector<SaveTensor>& tensors) {
  WrittenFile out;
  bool any = false;
  for (const SaveTensor& t : tensors) any = any || t.write;
  if (!any) return out;
  h5::silence_errors();
  const std::string name = rank_file_name(rank);
  const std::string path = dir + "/" + name;
  // The 1.10 format checksums HDF5's own metadata, so a corrupted header is
  // caught at open; our checksums cover the data.
  h5::Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (!fapl.valid() || H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V110, H5F_LIBVER_LATEST) < 0)
    return absl::InternalError(absl::StrCat(path, ": cannot set HDF5 file format bounds"));
  h5::Id file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), H5Fclose);
  if (!file.valid()) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot create"));
  absl::Status st;
  for (const SaveTensor& t : tensors) {
    if (!t.write) continue;
    TensorRecord rec;
    st = write_one(file.get(), t, path, rec);
    if (!st.ok()) break;
    rec.mutable_slices(0)->set_file(name);
    rec.mutable_slices(0)->set_rank(rank);
    out.tensors.push_back(std::move(rec));
  }
  // Closing flushes; a failed close (disk full) fails the save.
  if (!file.reset() && st.ok()) st = absl::InternalError(absl::StrCat(path, ": cannot flush/close"));
  if (st.ok()) st = fs::fsync_path(path);
  if (!st.ok()) return st;
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
