#pragma once
// Counter-based RNG: Philox4x32-10 (Salmon et al., SC'11). A random number is
// a pure function of (seed, stream, offset), so any thread, rank or device
// computes element i of a random tensor without sequential state: results do
// not depend on thread count or parallel layout.
#include <cmath>
#include <cstdint>

#include "core/hd.h"

namespace moe::philox {

struct U4 {
  uint32_t x[4];
};

MOE_HD void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t p = uint64_t(a) * uint64_t(b);
  hi = uint32_t(p >> 32);
  lo = uint32_t(p);
}

// counter = (offset_lo, offset_hi, stream_lo, stream_hi), key = seed.
MOE_HD U4 philox4x32_10(uint64_t seed, uint64_t stream, uint64_t offset) {
  uint32_t c0 = uint32_t(offset), c1 = uint32_t(offset >> 32);
  uint32_t c2 = uint32_t(stream), c3 = uint32_t(stream >> 32);
  uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(0xD2511F53u, c0, hi0, lo0);
    mulhilo(0xCD9E8D57u, c2, hi1, lo1);
    const uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return U4{{c0, c1, c2, c3}};
}

// Uniform in [0, 1) with 24 random bits (exact in f32).
MOE_HD float to_unit_float(uint32_t u) { return float(u >> 8) * (1.0f / 16777216.0f); }

// Element i of a uniform [0,1) tensor: word i%4 of block i/4.
MOE_HD float uniform(uint64_t seed, uint64_t stream, uint64_t i) {
  return to_unit_float(philox4x32_10(seed, stream, i / 4).x[i % 4]);
}

// Element i of a standard normal tensor: Box-Muller on words (2(i%2), 2(i%2)+1)
// of block i/2, computed in double so CPU and CUDA agree to rounding.
MOE_HD double normal(uint64_t seed, uint64_t stream, uint64_t i) {
  const U4 r = philox4x32_10(seed, stream, i / 2);
  const int w = int(i % 2) * 2;
  const double u1 = (double(r.x[w]) + 1.0) * (1.0 / 4294967296.0);  // (0, 1]
  const double u2 = double(r.x[w + 1]) * (1.0 / 4294967296.0);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

}  // namespace moe::philox
