#pragma once
// Element load/store between storage types and a compute type.
#include <cstdint>

#include <type_traits>

#include "core/dispatch.h"
#include "core/dtype.h"
#include "core/dtype_convert.h"

namespace moe::cpu {

template <typename T> inline double load(T v) { return double(v); }
template <> inline double load(bf16_t v) { return fp::bf16_to_f32(v.bits); }
template <> inline double load(f16_t v) { return fp::f16_to_f32(v.bits); }
template <> inline double load(f8e4m3_t v) { return fp::e4m3_to_f32(v.bits); }
template <> inline double load(f8e5m2_t v) { return fp::e5m2_to_f32(v.bits); }

// f64 sources are first rounded to f32 for the narrow formats.
template <typename T> inline T store(double v, bool) { return T(v); }
template <> inline bool store(double v, bool) { return v != 0.0; }
template <> inline bf16_t store(double v, bool) { return {fp::f32_to_bf16(float(v))}; }
template <> inline f16_t store(double v, bool) { return {fp::f32_to_f16(float(v))}; }
template <> inline f8e4m3_t store(double v, bool sat) { return {fp::f32_to_e4m3(float(v), sat)}; }
template <> inline f8e5m2_t store(double v, bool sat) { return {fp::f32_to_e5m2(float(v), sat)}; }

template <typename T>
constexpr bool is_native_v = std::is_arithmetic_v<T>;

// One element from storage type S to storage type D. Native-to-native is a
// plain cast (keeps i64 exact); anything involving a narrow float goes
// through f32/f64 with round-to-nearest-even.
template <typename S, typename D>
inline D convert(S v, bool saturate) {
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

// Calls f(Tag<T>) for the storage type of any dtype.
template <typename F>
decltype(auto) dispatch_storage(DType t, F&& f) {
  switch (t) {
    case DType::f64: return f(Tag<double>{});
    case DType::f32: return f(Tag<float>{});
    case DType::bf16: return f(Tag<bf16_t>{});
    case DType::f16: return f(Tag<f16_t>{});
    case DType::f8e4m3: return f(Tag<f8e4m3_t>{});
    case DType::f8e5m2: return f(Tag<f8e5m2_t>{});
    case DType::i32: return f(Tag<int32_t>{});
    case DType::i64: return f(Tag<int64_t>{});
    case DType::b8: return f(Tag<bool>{});
  }
  MOE_CHECK(false, "unknown dtype");
}

}  // namespace moe::cpu
