#include "data/dataset.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace moe::data {

std::string token_location(const TokenDataset& data, int64_t offset) {
  if (offset < 0) return data.describe();
  const std::vector<int64_t>& docs = data.doc_offsets();
  const int64_t doc = int64_t(std::upper_bound(docs.begin(), docs.end(), offset) - docs.begin()) - 1;
  return absl::StrCat(data.describe(), ", token offset ", offset, " (document ", std::max<int64_t>(doc, 0), ")");
}

}  // namespace moe::data
