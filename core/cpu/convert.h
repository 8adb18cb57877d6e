#pragma once
// Element load/store between storage types and a compute type.
#include <cstdint>

#include <type_traits>

#include "core/dtype_switch.h"
#include "core/dtype.h"
#include "core/dtype_convert.h"
#include "core/kernels/element_convert.h"

namespace moe::cpu {

using math::convert;
using math::is_native_v;
using math::load;
using math::store;

using moe::dtype_switch_storage;

}  // namespace moe::cpu
