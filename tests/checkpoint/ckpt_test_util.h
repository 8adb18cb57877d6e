#pragma once
// Helpers of the checkpoint tests: per-test directories, global tensors
// with distinct values, their slices, and a checkpoint of several simulated
// ranks written in one process through the same steps as the collective
// save (write_rank_file per rank, then commit_step).
#include <gtest/gtest.h>
#include <hdf5.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "checkpoint/checkpoint.h"
#include "checkpoint/commit.h"
#include "core/ops.h"

namespace moe::checkpoint::testing {

inline std::filesystem::path temp_base() {
  return std::filesystem::path(::testing::TempDir()) / ("moe_ckpt_" + std::to_string(::getpid()));
}
struct TempCleanup {
  ~TempCleanup() {
    std::error_code ec;
    std::filesystem::remove_all(temp_base(), ec);
  }
};
inline TempCleanup temp_cleanup;

// A fresh, empty directory for this test.
inline std::string temp_root(const std::string& name = "ckpt") {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::filesystem::path p = temp_base() / (std::string(info->test_suite_name()) + "." + info->name() + "." + name);
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p.string();
}

// Distinct values (offset by `seed`) in `dtype`.
inline Tensor global_tensor(const Shape& shape, double seed = 0, DType dtype = DType::f32) {
  std::vector<double> v(size_t(shape_numel(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = seed + double(i) * 0.5;
  return from_vector(v, shape, dtype);
}

inline Tensor slice_of(const Tensor& global, int dim, int index, int count) {
  if (dim < 0) return global.clone();
  const int64_t len = global.size(dim) / count;
  return global.narrow(dim, index * len, len).contiguous().clone();
}

inline parallel::ShardSpec spec(int dim, int index, int count,
                                parallel::ParamClass cls = parallel::ParamClass::expert) {
  return {cls, dim, index, count};
}

inline bool bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  if (a.numel() == 0) return true;  // empty tensors may have no storage pointer
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  return std::memcmp(ca.raw_data(), cb.raw_data(), size_t(ca.numel()) * dtype_size(ca.dtype())) == 0;
}

// Commits `per_rank[r]` as rank r's tensors, as a save over per_rank.size()
// ranks would.
inline absl::Status save_simulated(const std::string& root, int64_t step,
                                   const std::vector<std::vector<SaveTensor>>& per_rank,
                                   const CheckpointMeta& meta = {}) {
  const std::string tmp = tmp_dir_for(root, step);
  if (absl::Status st = prepare_save_dir(root, tmp); !st.ok()) return st;
  std::vector<RankIndex> indexes;
  for (size_t r = 0; r < per_rank.size(); ++r) {
    indexes.push_back(make_rank_index(int(r), write_rank_file(tmp, int(r), per_rank[r])));
    if (!indexes.back().error().empty()) return absl::InternalError(indexes.back().error());
  }
  return commit_step(root, step, indexes, meta, 0.0);
}

// The slices of `global` (name) along `dim` as `count` simulated ranks hold them.
inline std::vector<std::vector<SaveTensor>> sharded_over(const std::string& name, const Tensor& global, int dim,
                                                         int count) {
  std::vector<std::vector<SaveTensor>> per_rank(static_cast<size_t>(count));
  for (int r = 0; r < count; ++r)
    per_rank[size_t(r)].push_back({name, slice_of(global, dim, r, count), spec(dim, r, count), true});
  return per_rank;
}

// Loads slice (dim, index, count) of `name` into a fresh tensor.
inline absl::StatusOr<Tensor> load_slice(const std::string& step_dir, const std::string& name, const Shape& global,
                                         int dim, int index, int count, DType dtype = DType::f32) {
  absl::StatusOr<CheckpointMeta> meta = read_metadata(step_dir);
  if (!meta.ok()) return meta.status();
  Shape local = global;
  if (dim >= 0) local[size_t(dim)] /= count;
  Tensor into = zeros(local, dtype);
  if (absl::Status st = load_tensor(step_dir, *meta, name, spec(dim, index, count), into); !st.ok()) return st;
  return into;
}

// Byte offset of a dataset's data in an HDF5 file (-1: none).
inline int64_t data_offset(const std::string& file, const std::string& dataset) {
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = H5Dopen2(f, dataset.c_str(), H5P_DEFAULT);
  const haddr_t off = H5Dget_offset(d);
  H5Dclose(d);
  H5Fclose(f);
  return off == HADDR_UNDEF ? -1 : int64_t(off);
}

inline void flip_byte(const std::string& file, int64_t offset) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(offset);
  char c = 0;
  f.read(&c, 1);
  c = char(c ^ 0x5a);
  f.seekp(offset);
  f.write(&c, 1);
}

}  // namespace moe::checkpoint::testing
