#pragma once
// How a backend family function (core/backend/*.h) picks its kernels: from
// the device of its tensors, which must all be on that one device. Ops check
// their inputs first (check_same_device names both devices); the check here
// also catches an op that made an output or temporary on the wrong device.
#include "core/error.h"
#include "core/tensor.h"

namespace moe::backend {

namespace detail {
inline void check_on(const char* fn, const Tensor& first, const Tensor& t) {
  MOE_CHECK(!t.defined() || t.device() == first.device(), "backend ", fn, ": tensors on two devices: ",
            first.str(), " and ", t.str());
}
}  // namespace detail

// The device type of `first`, after checking that every defined tensor of
// `rest` is on the same device. fn names the family function in errors.
template <typename... Rest>
DeviceType kernel_device(const char* fn, const Tensor& first, const Rest&... rest) {
  MOE_CHECK(first.defined(), "backend ", fn, ": got an undefined tensor");
  (detail::check_on(fn, first, rest), ...);
  return first.device().type;
}

// After a switch over DeviceType: a value no case handles.
[[noreturn]] inline void unknown_device(const char* fn, DeviceType t) {
  MOE_CHECK(false, "backend ", fn, ": unknown device type ", int(t));
}

}  // namespace moe::backend
