#pragma once
// Opens the split of a DataConfig in whichever format it names.
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "data/config.pb.h"
#include "data/dataset.h"

namespace moe::data {

// DATASET_AUTO picks HDF5 for paths ending in .h5 / .hdf5, Megatron otherwise.
// HDF5: `split` is the group in config.path(). Megatron: config.path() is
// the prefix that moe-prep --format megatron was given, and the split is
// PATH_<split>.bin / .idx.
absl::StatusOr<std::unique_ptr<TokenDataset>> open_token_dataset(const config::DataConfig& config,
                                                                 const std::string& split);

}  // namespace moe::data
