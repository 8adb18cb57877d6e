#pragma once
// Element-type switch for kernels: calls f with a value of type Tag<T> for the
// tensor's element type T.
#include <type_traits>

#include "core/dtype.h"
#include "core/error.h"

namespace moe {

template <typename T>
struct Tag {
  using type = T;
};

// f32 and f64 (compute types of floating kernels).
template <typename F>
decltype(auto) dtype_switch_float(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::f32: return f(Tag<float>{});
    case DType::f64: return f(Tag<double>{});
    default: break;
  }
  MOE_CHECK(false, op, ": unsupported dtype ", t, " (kernels compute in f32/f64)");
}

// Integer index types.
template <typename F>
decltype(auto) dtype_switch_index(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::i32: return f(Tag<int32_t>{});
    case DType::i64: return f(Tag<int64_t>{});
    default: break;
  }
  MOE_CHECK(false, op, ": index tensor must be i32 or i64, got ", t);
}

// Every dtype whose elements are native C++ arithmetic types.
template <typename F>
decltype(auto) dtype_switch_native(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::f32: return f(Tag<float>{});
    case DType::f64: return f(Tag<double>{});
    case DType::i32: return f(Tag<int32_t>{});
    case DType::i64: return f(Tag<int64_t>{});
    case DType::b8: return f(Tag<bool>{});
    default: break;
  }
  MOE_CHECK(false, op, ": unsupported dtype ", t);
}

// f32/f64/i32/i64 (not bool).
template <typename F>
void dtype_switch_numeric(DType t, const char* op, F&& f) {
  dtype_switch_native(t, op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, bool>) {
      MOE_CHECK(false, op, ": bool tensors are not supported");
    } else {
      f(tag);
    }
  });
}

// Calls f(Tag<T>) for the storage type of any dtype.
template <typename F>
decltype(auto) dtype_switch_storage(DType t, F&& f) {
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

}  // namespace moe
