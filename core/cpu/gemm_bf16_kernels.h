#pragma once
// AVX-512 BF16 building blocks of the bf16 matmul (core/cpu/gemm_bf16.cc).
// They live in their own translation unit, compiled with -mavx512bf16, which
// uses no inline function of a C++ library header (only <cstdint> types and
// the intrinsics): an inline function instantiated there could
// otherwise be picked by the linker for code that runs on CPUs without
// AVX-512. Call them only when the CPU has AVX-512 BF16.
//
// Operands are "pair words": 32-bit words holding two bf16 values of one lane
// (a row of op(A) or a column of op(B)) at K = 2kp (low half) and 2kp + 1
// (high half), the operand format of VDPBF16PS; an odd K's missing partner is
// zero. Rounding is VCVTNE2PS2BF16's: nearest even, f32 subnormals read as
// zero. Two layouts:
//   lane-major  [lane][kp]  (row stride given): A operands stored K-contiguous
//   panel       [kp][width] (width = kMR or kNR lanes, zero past the edge)
#include <cstdint>

namespace moe::cpu::bf16k {

inline constexpr int64_t kMR = 12;  // rows of A per micro-tile
inline constexpr int64_t kNR = 32;  // columns of B per micro-tile (two zmm of f32)

// Lane-major: `lanes` rows of K contiguous floats (row stride src_stride) to
// pair words with row stride dst_stride (>= ceil(K/2)).
void convert_rows(const float* src, int64_t src_stride, int64_t lanes, int64_t K, uint32_t* dst,
                  int64_t dst_stride);

// All panels of `width` lanes (panel p at dst + p * panel_stride, lanes
// [p * width, (p + 1) * width)) from an operand whose lanes are contiguous
// (element (l, k) at src[l + k * k_stride]), for the K pairs [kp0, kp1):
// each pair of K rows is read once, whole.
void pack_lanes_contiguous(const float* src, int64_t k_stride, int64_t lanes, int64_t K, int64_t width,
                           int64_t kp0, int64_t kp1, uint32_t* dst, int64_t panel_stride);

// Panel of `width` lanes from an operand whose K is contiguous (element (l, k)
// at src[l * lane_stride + k]): converted, then transposed.
void pack_k_contiguous(const float* src, int64_t lane_stride, int64_t lanes, int64_t K, int64_t width,
                       uint32_t* dst);

// C[0:m, 0:n] = alpha * A . B_panel over Kp pairs (m <= kMR, n <= kNR, C
// row-major with row stride ldc). A's pair (i, kp) is a[i * a_lane_stride +
// kp * a_kp_stride] (a panel: 1, kMR; lane-major: row stride, 1); all kMR
// rows are read. Each element sums its products in increasing K-pair order in
// f32, the odd K of a pair before the even one (VDPBF16PS: two fused
// multiply-adds, 2kp + 1 then 2kp; bf16 subnormals read as zero, subnormal
// results flush to zero).
void micro_tile(int64_t Kp, const uint32_t* a, int64_t a_lane_stride, int64_t a_kp_stride, const uint32_t* b,
                float alpha, float* c, int64_t ldc, int64_t m, int64_t n);

}  // namespace moe::cpu::bf16k
