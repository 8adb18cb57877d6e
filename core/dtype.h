#pragma once
#include <cstddef>
#include <cstdint>
#include <ostream>

#include "core/error.h"

namespace moe {

enum class DType : uint8_t { f64, f32, bf16, f16, f8e4m3, f8e5m2, i32, i64, b8 };

constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::f64: case DType::i64: return 8;
    case DType::f32: case DType::i32: return 4;
    case DType::bf16: case DType::f16: return 2;
    case DType::f8e4m3: case DType::f8e5m2: case DType::b8: return 1;
  }
  return 0;
}
const char* dtype_name(DType t);
inline std::ostream& operator<<(std::ostream& os, DType t) { return os << dtype_name(t); }
constexpr bool is_floating(DType t) { return t <= DType::f8e5m2; }
constexpr bool is_low_precision(DType t) { return t >= DType::bf16 && t <= DType::f8e5m2; }
constexpr bool is_integral(DType t) { return t == DType::i32 || t == DType::i64; }

// Storage types of the narrow formats (bit patterns).
struct bf16_t { uint16_t bits; };
struct f16_t { uint16_t bits; };
struct f8e4m3_t { uint8_t bits; };
struct f8e5m2_t { uint8_t bits; };

}  // namespace moe
