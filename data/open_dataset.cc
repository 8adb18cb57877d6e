#include "data/open_dataset.h"

#include "absl/strings/match.h"
#include "data/hdf5_dataset.h"
#include "data/megatron_dataset.h"

namespace moe::data {

absl::StatusOr<std::unique_ptr<TokenDataset>> open_token_dataset(const config::DataConfig& config,
                                                                 const std::string& split) {
  const std::string& path = config.path();
  // An empty path would look for "_train.idx": name the field instead.
  if (path.empty())
    return absl::InvalidArgumentError("data.path is empty: set it to a moe-prep .h5 file or a Megatron prefix");
  config::DatasetFormat format = config.format();
  if (format == config::DATASET_AUTO)
    format = absl::EndsWith(path, ".h5") || absl::EndsWith(path, ".hdf5")
                 ? config::DATASET_HDF5
                 : config::DATASET_MEGATRON;
  if (format == config::DATASET_HDF5) return open_hdf5_dataset(path, split);
  return open_megatron_dataset(path + "_" + split);
}

}  // namespace moe::data
