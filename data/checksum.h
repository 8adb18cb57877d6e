#pragma once
// 64-bit FNV-1a, used as the integrity check of stored token splits. The
// tokens are hashed as little-endian int32 values and document offsets as
// little-endian int64, whatever dtype the file stores, so the checksum is
// independent of the storage format.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>

namespace moe::data {

class Fnv1a64 {
 public:
  void update(const void* data, size_t n) {
    const unsigned char* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) h_ = (h_ ^ p[i]) * 0x100000001b3ull;
  }
  // Hashes the values as little-endian bytes (this code targets
  // little-endian machines, where that is the memory layout).
  void update(std::span<const int32_t> v) { update(v.data(), v.size_bytes()); }
  void update(std::span<const int64_t> v) { update(v.data(), v.size_bytes()); }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 0xcbf29ce484222325ull;
};

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as TFRecord
// framing uses it; masked() is TFRecord's rotate-and-add of a stored CRC.
uint32_t crc32c(const void* data, size_t n);
inline uint32_t crc32c_masked(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

static_assert(std::endian::native == std::endian::little, "checksums assume little-endian");

}  // namespace moe::data
