#pragma once
// Element load/store between storage types and a compute type, shared by the
// CPU copies and the CUDA ones so both devices convert bit for bit alike.
#include <cstdint>
#include <type_traits>

#include "core/dtype.h"
#include "core/dtype_convert.h"
#include "core/hd.h"

namespace moe::math {

template <typename T> MOE_HD double load(T v) { return double(v); }
template <> MOE_HD double load(bf16_t v) { return fp::bf16_to_f32(v.bits); }
template <> MOE_HD double load(f16_t v) { return fp::f16_to_f32(v.bits); }
template <> MOE_HD double load(f8e4m3_t v) { return fp::e4m3_to_f32(v.bits); }
template <> MOE_HD double load(f8e5m2_t v) { return fp::e5m2_to_f32(v.bits); }

// f64 sources are first rounded to f32 for the narrow formats.
template <typename T> MOE_HD T store(double v, bool) { return T(v); }
template <> MOE_HD bool store(double v, bool) { return v != 0.0; }
template <> MOE_HD bf16_t store(double v, bool) { return {fp::f32_to_bf16(float(v))}; }
template <> MOE_HD f16_t store(double v, bool) { return {fp::f32_to_f16(float(v))}; }
template <> MOE_HD f8e4m3_t store(double v, bool sat) { return {fp::f32_to_e4m3(float(v), sat)}; }
template <> MOE_HD f8e5m2_t store(double v, bool sat) { return {fp::f32_to_e5m2(float(v), sat)}; }

template <typename T>
constexpr bool is_native_v = std::is_arithmetic_v<T>;

// One element from storage type S to storage type D. Native-to-native is a
// plain cast (keeps i64 exact); anything involving a narrow float goes
// through f32/f64 with round-to-nearest-even.
template <typename S, typename D>
MOE_HD D convert(S v, bool saturate) {
  if constexpr (std::is_same_v<S, D>) {
    return v;
  } else if constexpr (is_native_v<S> && std::is_same_v<D, bool>) {
    return v != S(0);
  } else if constexpr (is_native_v<S> && is_native_v<D>) {
    return static_cast<D>(v);
  } else {
    return store<D>(load(v), saturate);
  }
}

}  // namespace moe::math
