#include "core/cpu/gemm_bf16.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/cpu/gemm_bf16_kernels.h"
#include "core/parallel.h"

namespace moe::cpu {

namespace {

using bf16k::kMR;
using bf16k::kNR;

bool cpu_has_avx512_bf16() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
}

std::atomic<bool>& kernels_on() {
  static std::atomic<bool> on{[] {
    const char* env = std::getenv("MOE_BF16_KERNELS");
    return cpu_has_avx512_bf16() && !(env && std::strcmp(env, "0") == 0);
  }()};
  return on;
}

}  // namespace

bool bf16_kernels_enabled() { return kernels_on().load(); }

bool use_bf16_kernels(bool on) { return kernels_on().exchange(on && cpu_has_avx512_bf16()); }

void gemm_bf16(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  const int64_t Kp = (K + 1) / 2, mp = (M + kMR - 1) / kMR, np = (N + kNR - 1) / kNR;
  // A is K-contiguous unless transposed: then it is only converted, lane-major
  // (row stride Kp), else packed into [kp][kMR] panels. B is always packed.
  const int64_t a_panel = Kp * kMR, b_panel = Kp * kNR;
  const int64_t a_lane_stride = ta ? 1 : Kp, a_kp_stride = ta ? kMR : 1;
  // Packed operands, reused across calls of this thread (grown, never shrunk).
  thread_local std::vector<uint32_t> packed;
  packed.resize(size_t(mp * a_panel + np * b_panel));
  uint32_t* pa = packed.data();
  uint32_t* pb = pa + mp * a_panel;

  // One parallel region packs both operands, part c of `parts` doing its
  // share of each, so the parts are even whatever the shapes. Lane-contiguous
  // operands are split by K pairs (each pass reads whole rows for every
  // panel), the others by panels.
  const int64_t parts = std::min<int64_t>(num_threads(), std::max(mp + np, Kp));
  parallel_for(parts, 1, [&](int64_t s, int64_t e) {
    for (int64_t c = s; c < e; ++c) {
      const int64_t kp0 = Kp * c / parts, kp1 = Kp * (c + 1) / parts;
      if (ta) {
        bf16k::pack_lanes_contiguous(A, lda, M, K, kMR, kp0, kp1, pa, a_panel);
      } else {
        for (int64_t ip = mp * c / parts; ip < mp * (c + 1) / parts; ++ip) {
          const int64_t i0 = ip * kMR, lanes = std::min(kMR, M - i0);
          uint32_t* dst = pa + ip * a_panel;
          bf16k::convert_rows(A + i0 * lda, lda, lanes, K, dst, Kp);
          std::fill(dst + lanes * Kp, dst + a_panel, 0u);  // the micro-tile reads all kMR rows
        }
      }
      if (tb) {
        for (int64_t jp = np * c / parts; jp < np * (c + 1) / parts; ++jp) {
          const int64_t j0 = jp * kNR;
          bf16k::pack_k_contiguous(B + j0 * ldb, ldb, std::min(kNR, N - j0), K, kNR, pb + jp * b_panel);
        }
      } else {
        bf16k::pack_lanes_contiguous(B, ldb, N, K, kNR, kp0, kp1, pb, b_panel);
      }
    }
  });

  // One task per 12 x 32 output tile, B panel major: a thread's contiguous
  // run of tasks walks the A panels under one B panel before the next. Which
  // thread computes a tile never changes its value (each tile sums its whole
  // K alone), so results are the same for any thread count.
  parallel_for(mp * np, 1, [&](int64_t s, int64_t e) {
    for (int64_t task = s; task < e; ++task) {
      const int64_t jp = task / mp, ip = task % mp, i0 = ip * kMR, j0 = jp * kNR;
      bf16k::micro_tile(Kp, pa + ip * a_panel, a_lane_stride, a_kp_stride, pb + jp * b_panel, alpha,
                        C + i0 * ldc + j0, ldc, std::min(kMR, M - i0), std::min(kNR, N - j0));
    }
  });
}

}  // namespace moe::cpu
