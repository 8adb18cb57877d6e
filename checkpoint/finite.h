#pragma once
// Non-finite values (NaN, +-inf) in a tensor of any floating dtype: a save
// refuses to commit them and verification reports them.
#include <cstdint>
#include <string>

#include "core/tensor.h"

namespace moe::checkpoint {

struct NonFinite {
  int64_t count = 0;        // elements that are NaN or +-inf
  int64_t first = -1;       // row-major index of the first one
  std::string first_value;  // "nan", "inf" or "-inf"
};
// Integer and boolean tensors have none; nor, here, tensors off the CPU
// (the save refuses those when writing).
NonFinite find_nonfinite(const Tensor& t);
// "3 non-finite values (first: nan at element 17)".
std::string describe(const NonFinite& n);

}  // namespace moe::checkpoint
