#pragma once
// Constants of the MMIDIDX index format shared by the Megatron reader and
// writer (layout in data/megatron_dataset.h).
#include <cstddef>
#include <cstdint>

namespace moe::data::megatron {

inline constexpr char kMagic[9] = {'M', 'M', 'I', 'D', 'I', 'D', 'X', '\0', '\0'};
inline constexpr uint64_t kVersion = 1;
// magic + version + dtype code + sequence count + document count
inline constexpr size_t kHeaderBytes = 9 + 8 + 1 + 8 + 8;

enum DtypeCode : uint8_t {
  kUint8 = 1,
  kInt8 = 2,
  kInt16 = 3,
  kInt32 = 4,
  kInt64 = 5,
  kFloat64 = 6,
  kFloat32 = 7,
  kUint16 = 8,
};

// Bytes per element of a dtype code, 0 for an unknown code.
inline size_t dtype_bytes(uint8_t code) {
  switch (code) {
    case kUint8:
    case kInt8:
      return 1;
    case kInt16:
    case kUint16:
      return 2;
    case kInt32:
    case kFloat32:
      return 4;
    case kInt64:
    case kFloat64:
      return 8;
    default:
      return 0;
  }
}

}  // namespace moe::data::megatron
