#include "core/cpu/gemm_bf16.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/cpu/gemm_bf16_kernels.h"
#include "core/threading.h"

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
  gemm_bf16_batch({Bf16Gemm{ta, tb, M, N, K, A, lda, B, ldb, C, ldc}}, alpha);
}

void gemm_bf16_batch(const std::vector<Bf16Gemm>& jobs, float alpha) {
  // Per job: K pairs, A and B panels, and where its packed operands start.
  struct Plan {
    int64_t Kp, mp, np, a_panel, b_panel, a_off, b_off, first_task;
  };
  std::vector<Plan> plans;
  int64_t packed_size = 0, tasks = 0;
  for (const Bf16Gemm& j : jobs) {
    Plan p{};
    if (j.M > 0 && j.N > 0) {
      p.Kp = (j.K + 1) / 2;
      p.mp = (j.M + kMR - 1) / kMR;
      p.np = (j.N + kNR - 1) / kNR;
    }
    p.a_panel = p.Kp * kMR;
    p.b_panel = p.Kp * kNR;
    p.a_off = packed_size;
    p.b_off = p.a_off + p.mp * p.a_panel;
    packed_size = p.b_off + p.np * p.b_panel;
    p.first_task = tasks;
    tasks += p.mp * p.np;
    plans.push_back(p);
  }
  if (tasks == 0) return;
  // Packed operands, reused across calls of this thread (grown, never shrunk).
  thread_local std::vector<uint32_t> packed;
  packed.resize(size_t(packed_size));
  uint32_t* base = packed.data();

  // One parallel region packs every operand, part c of `parts` doing its
  // share of each job, so the parts are even whatever the shapes. A is
  // K-contiguous unless transposed: then it is only converted, lane-major
  // (row stride Kp), else packed into [kp][kMR] panels; B is always packed.
  // Lane-contiguous operands are split by K pairs (each pass reads whole rows
  // for every panel), the others by panels.
  const int64_t parts = num_threads();
  parallel_for(parts, 1, [&](int64_t s, int64_t e) {
    for (int64_t c = s; c < e; ++c)
      for (size_t q = 0; q < jobs.size(); ++q) {
        const Bf16Gemm& j = jobs[q];
        const Plan& p = plans[q];
        if (p.mp == 0) continue;
        uint32_t *pa = base + p.a_off, *pb = base + p.b_off;
        const int64_t kp0 = p.Kp * c / parts, kp1 = p.Kp * (c + 1) / parts;
        if (j.ta) {
          bf16k::pack_lanes_contiguous(j.A, j.lda, j.M, j.K, kMR, kp0, kp1, pa, p.a_panel);
        } else {
          for (int64_t ip = p.mp * c / parts; ip < p.mp * (c + 1) / parts; ++ip) {
            const int64_t i0 = ip * kMR, lanes = std::min(kMR, j.M - i0);
            uint32_t* dst = pa + ip * p.a_panel;
            bf16k::convert_rows(j.A + i0 * j.lda, j.lda, lanes, j.K, dst, p.Kp);
            std::fill(dst + lanes * p.Kp, dst + p.a_panel, 0u);  // the micro-tile reads all kMR rows
          }
        }
        if (j.tb) {
          for (int64_t jp = p.np * c / parts; jp < p.np * (c + 1) / parts; ++jp) {
            const int64_t j0 = jp * kNR;
            bf16k::pack_k_contiguous(j.B + j0 * j.ldb, j.ldb, std::min(kNR, j.N - j0), j.K, kNR,
                                     pb + jp * p.b_panel);
          }
        } else {
          bf16k::pack_lanes_contiguous(j.B, j.ldb, j.N, j.K, kNR, kp0, kp1, pb, p.b_panel);
        }
      }
  });

  // One task per 12 x 32 output tile, jobs in order and each B panel major
  // (a run of tasks walks the A panels under one B panel before the next).
  // Part c takes the tasks whose work (K pairs, plus one for the call) starts
  // in its share of the total. Which thread computes a tile never changes
  // its value (each tile sums its whole K alone), so results are the same
  // for any thread count.
  std::vector<int64_t> work(size_t(tasks) + 1, 0);  // work before task t
  for (size_t q = 0; q < jobs.size(); ++q)
    for (int64_t t = 0; t < plans[q].mp * plans[q].np; ++t) {
      const int64_t g = plans[q].first_task + t;
      work[size_t(g) + 1] = work[size_t(g)] + plans[q].Kp + 1;
    }
  const int64_t total = work.back();
  parallel_for(std::min<int64_t>(parts, tasks), 1, [&](int64_t s, int64_t e) {
    const int64_t n_parts = std::min<int64_t>(parts, tasks);
    for (int64_t c = s; c < e; ++c) {
      auto first_from = [&](int64_t w) {
        return int64_t(std::lower_bound(work.begin(), work.end() - 1, w) - work.begin());
      };
      const int64_t t0 = first_from(total * c / n_parts), t1 = first_from(total * (c + 1) / n_parts);
      size_t q = size_t(std::upper_bound(plans.begin(), plans.end(), t0,
                                         [](int64_t t, const Plan& p) { return t < p.first_task; }) -
                        plans.begin()) - 1;
      for (int64_t task = t0; task < t1; ++task) {
        while (task >= plans[q].first_task + plans[q].mp * plans[q].np) ++q;
        const Bf16Gemm& j = jobs[q];
        const Plan& p = plans[q];
        const int64_t local = task - p.first_task, jp = local / p.mp, ip = local % p.mp;
        const int64_t i0 = ip * kMR, j0 = jp * kNR;
        const int64_t a_lane_stride = j.ta ? 1 : p.Kp, a_kp_stride = j.ta ? kMR : 1;
        bf16k::micro_tile(p.Kp, base + p.a_off + ip * p.a_panel, a_lane_stride, a_kp_stride,
                          base + p.b_off + jp * p.b_panel, alpha, j.C + i0 * j.ldc + j0, j.ldc,
                          std::min(kMR, j.M - i0), std::min(kNR, j.N - j0));
      }
    }
  });
}

}  // namespace moe::cpu
