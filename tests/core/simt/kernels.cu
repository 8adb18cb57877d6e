#include "tests/core/simt/kernels.h"

namespace moe::simt_test {
namespace {

constexpr unsigned kFull = 0xffffffffu;

__device__ __forceinline__ int64_t global_index() { return blockIdx.x * int64_t(blockDim.x) + threadIdx.x; }
__device__ __forceinline__ int64_t grid_stride() { return int64_t(gridDim.x) * blockDim.x; }

template <int kThreads, bool kSyncBeforeTree>
__global__ void block_sum_kernel(const long long* __restrict__ in, long long* __restrict__ partial, int64_t n) {
  __shared__ long long s[kThreads];
  long long acc = 0;
  for (int64_t i = global_index(); i < n; i += grid_stride()) acc += in[i];
  s[threadIdx.x] = acc;
  if (kSyncBeforeTree) __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride >>= 1) {
    if (int(threadIdx.x) < stride) s[threadIdx.x] += s[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}

// Warp sums, then one shared slot per warp, then warp 0 sums the slots.
__global__ void block_sum_1024_kernel(const int* __restrict__ in, int* __restrict__ out) {
  __shared__ int warp_sums[32];
  int v = in[threadIdx.x];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(kFull, v, o);
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = v;
  __syncthreads();
  if (threadIdx.x < 32) {
    v = warp_sums[threadIdx.x];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
    if (threadIdx.x == 0) *out = v;
  }
}

__global__ void warp_shuffles_kernel(const int* __restrict__ in, int* __restrict__ xor_sum, int* __restrict__ down_sum,
                                     int* __restrict__ up_scan, int* __restrict__ bcast8, int* __restrict__ up1,
                                     int* __restrict__ down8, int n) {
  const int64_t i = global_index();
  if (blockIdx.x * int64_t(blockDim.x) >= n) return;  // whole blocks only: every lane takes part
  const int lane = threadIdx.x % 32;
  const int x = i < n ? in[i] : 0;
  int v = x;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  int d = x;
  for (int o = 16; o > 0; o >>= 1) d += __shfl_down_sync(kFull, d, o);
  int u = x;
  for (int o = 1; o < 32; o <<= 1) {
    const int t = __shfl_up_sync(kFull, u, o);
    if (lane >= o) u += t;
  }
  const int b = __shfl_sync(kFull, x, 3, 8);
  const int u1 = __shfl_up_sync(kFull, x, 1);
  const int d8 = __shfl_down_sync(kFull, x, 3, 8);
  if (i < n) {
    xor_sum[i] = v;
    down_sum[i] = d;
    up_scan[i] = u;
    bcast8[i] = b;
    up1[i] = u1;
    down8[i] = d8;
  }
}

__global__ void warp_votes_kernel(const int* __restrict__ in, unsigned* __restrict__ ballot, int* __restrict__ any,
                                  int* __restrict__ all, int* __restrict__ block_count, int* __restrict__ block_and,
                                  int* __restrict__ block_or) {
  const int pred = in[global_index()] > 0;
  const unsigned b = __ballot_sync(kFull, pred);  // names the lanes a partial last warp lacks
  const int a = __any_sync(kFull, pred);
  const int l = __all_sync(kFull, pred);
  const int warps_per_block = (blockDim.x + 31) / 32;
  const int w = blockIdx.x * warps_per_block + threadIdx.x / 32;
  if (threadIdx.x % 32 == 0) {
    ballot[w] = b;
    any[w] = a;
    all[w] = l;
  }
  const int c = __syncthreads_count(pred);
  const int ca = __syncthreads_and(pred);
  const int co = __syncthreads_or(pred);
  if (threadIdx.x == 0) {
    block_count[blockIdx.x] = c;
    block_and[blockIdx.x] = ca;
    block_or[blockIdx.x] = co;
  }
}

__global__ void warp_reduce_match_kernel(const unsigned* __restrict__ u, const int* __restrict__ s,
                                         unsigned* __restrict__ add, int* __restrict__ max,
                                         unsigned* __restrict__ match) {
  const int lane = threadIdx.x;
  add[lane] = __reduce_add_sync(kFull, u[lane]);
  max[lane] = __reduce_max_sync(kFull, s[lane]);
  match[lane] = __match_any_sync(kFull, u[lane]);
}

__global__ void diverged_exit_kernel(int* out) {
  const int lane = threadIdx.x % 32;
  int v = lane;
  if (lane < 16) v = __shfl_xor_sync(kFull, v, 1);
  out[threadIdx.x] = v;
}
__global__ void diverged_barrier_kernel(int* out) {
  const int lane = threadIdx.x % 32;
  int v = lane;
  if (lane < 16) v = __shfl_xor_sync(kFull, v, 1);
  __syncthreads();
  out[threadIdx.x] = v;
}
__global__ void mismatched_mask_kernel(int* out) {
  const int lane = threadIdx.x % 32;
  out[threadIdx.x] = __shfl_xor_sync(lane == 3 ? 0x0000ffffu : kFull, lane, 1);
}
__global__ void mask_without_self_kernel(int* out) {
  out[threadIdx.x] = __shfl_xor_sync(0xfffffffeu, int(threadIdx.x), 1);
}
__global__ void trap_kernel(int* out, int lane) {
  if (int(threadIdx.x) == lane) __trap();
  __syncthreads();
  out[threadIdx.x] = 1;
}

__global__ void histogram_global_kernel(const int* __restrict__ v, int n, unsigned* __restrict__ hist) {
  for (int64_t i = global_index(); i < n; i += grid_stride()) atomicAdd(&hist[v[i]], 1u);
}
__global__ void histogram_shared_kernel(const int* __restrict__ v, int n, unsigned* __restrict__ hist) {
  __shared__ unsigned s[kBins];
  for (int b = threadIdx.x; b < kBins; b += blockDim.x) s[b] = 0;
  __syncthreads();
  for (int64_t i = global_index(); i < n; i += grid_stride()) atomicAdd(&s[v[i]], 1u);
  __syncthreads();
  for (int b = threadIdx.x; b < kBins; b += blockDim.x) atomicAdd(&hist[b], s[b]);
}
__global__ void atomics_kernel(const int* __restrict__ v, int n, int* mx, int* mn, unsigned long long* sum, float* fsum,
                               int* cas_count) {
  for (int64_t i = global_index(); i < n; i += grid_stride()) {
    atomicMax(mx, v[i]);
    atomicMin(mn, v[i]);
    atomicAdd(sum, (unsigned long long)(v[i] + 1000));
    atomicAdd(fsum, float(v[i]));  // small integers: exact in any order
    // The first guess is 0, not a plain read of *cas_count: that read would race
    // with the other threads' atomics (TSan says so, and so does the PTX model).
    int old = 0, seen;
    do {
      seen = old;
      old = atomicCAS(cas_count, seen, seen + 1);
    } while (old != seen);
  }
}

__global__ void reverse_blocks_kernel(const float* __restrict__ in, float* __restrict__ out) {
  MOE_DYNAMIC_SHARED(float, buf);
  const int64_t base = blockIdx.x * int64_t(blockDim.x);
  buf[threadIdx.x] = in[base + threadIdx.x];
  __syncthreads();
  out[base + threadIdx.x] = buf[blockDim.x - 1 - threadIdx.x];
}
__global__ void smem_fill_sum_kernel_(unsigned* out, int words) {
  MOE_DYNAMIC_SHARED(unsigned, buf);
  for (int i = threadIdx.x; i < words; i += blockDim.x) buf[i] = unsigned(i);
  __syncthreads();
  if (threadIdx.x == 0) {
    unsigned s = 0;
    for (int i = 0; i < words; ++i) s += buf[i];
    *out = s;
  }
}

__global__ void coverage_kernel(unsigned* counts, int nx, int ny, int nz) {
  for (int z = blockIdx.z * blockDim.z + threadIdx.z; z < nz; z += gridDim.z * blockDim.z)
    for (int y = blockIdx.y * blockDim.y + threadIdx.y; y < ny; y += gridDim.y * blockDim.y)
      for (int x = blockIdx.x * blockDim.x + threadIdx.x; x < nx; x += gridDim.x * blockDim.x)
        atomicAdd(&counts[(int64_t(z) * ny + y) * nx + x], 1u);
}
__global__ void touch_kernel(int* flag) {
  if (threadIdx.x == 0 && blockIdx.x == 0) *flag = 1;  // one writer: TSan reports several as a race
}

__global__ void dynamic_smem_overflow_kernel(int* out) {
  MOE_DYNAMIC_SHARED(int, buf);
  buf[threadIdx.x] = int(threadIdx.x);  // the buffer holds blockDim.x - 1 ints
  __syncthreads();
  out[threadIdx.x] = buf[0];
}
__global__ void static_smem_overflow_kernel(int* out) {
  __shared__ int s[64];
  s[threadIdx.x] = int(threadIdx.x);  // launched with 65 threads
  __syncthreads();
  out[threadIdx.x] = s[0];
}

}  // namespace

void block_sum(const long long* in, long long* partial, int64_t n, int blocks, cudaStream_t stream) {
  MOE_LAUNCH((block_sum_kernel<kSumThreads, true>), blocks, kSumThreads, 0, stream)(in, partial, n);
}
void block_sum_racy(const long long* in, long long* partial, int64_t n, int blocks) {
  MOE_LAUNCH((block_sum_kernel<kSumThreads, false>), blocks, kSumThreads, 0, nullptr)(in, partial, n);
}
void block_sum_1024(const int* in, int* out) { MOE_LAUNCH(block_sum_1024_kernel, 1, 1024, 0, nullptr)(in, out); }
void warp_shuffles(const int* in, int* xor_sum, int* down_sum, int* up_scan, int* bcast8, int* up1, int* down8, int n,
                   int threads) {
  MOE_LAUNCH(warp_shuffles_kernel, (n + threads - 1) / threads, threads, 0, nullptr)(in, xor_sum, down_sum, up_scan,
                                                                                     bcast8, up1, down8, n);
}
void warp_votes(const int* in, unsigned* ballot, int* any, int* all, int* block_count, int* block_and, int* block_or,
                int blocks, int threads) {
  MOE_LAUNCH(warp_votes_kernel, blocks, threads, 0, nullptr)(in, ballot, any, all, block_count, block_and, block_or);
}
void warp_reduce_match(const unsigned* u, const int* s, unsigned* add, int* max, unsigned* match) {
  MOE_LAUNCH(warp_reduce_match_kernel, 1, 32, 0, nullptr)(u, s, add, max, match);
}
void diverged_exit(int* out) { MOE_LAUNCH(diverged_exit_kernel, 1, 32, 0, nullptr)(out); }
void diverged_barrier(int* out) { MOE_LAUNCH(diverged_barrier_kernel, 1, 32, 0, nullptr)(out); }
void mismatched_mask(int* out) { MOE_LAUNCH(mismatched_mask_kernel, 1, 32, 0, nullptr)(out); }
void mask_without_self(int* out) { MOE_LAUNCH(mask_without_self_kernel, 1, 32, 0, nullptr)(out); }
void trap_in_lane(int* out, int lane, cudaStream_t stream) { MOE_LAUNCH(trap_kernel, 1, 64, 0, stream)(out, lane); }
void histogram_global(const int* v, int n, unsigned* hist, int blocks, int threads) {
  MOE_LAUNCH(histogram_global_kernel, blocks, threads, 0, nullptr)(v, n, hist);
}
void histogram_shared(const int* v, int n, unsigned* hist, int blocks, int threads) {
  MOE_LAUNCH(histogram_shared_kernel, blocks, threads, 0, nullptr)(v, n, hist);
}
void atomics(const int* v, int n, int* mx, int* mn, unsigned long long* sum, float* fsum, int* cas_count, int blocks,
             int threads) {
  MOE_LAUNCH(atomics_kernel, blocks, threads, 0, nullptr)(v, n, mx, mn, sum, fsum, cas_count);
}
void reverse_blocks(const float* in, float* out, int n, int threads, size_t smem_bytes) {
  MOE_LAUNCH(reverse_blocks_kernel, n / threads, threads, smem_bytes, nullptr)(in, out);
}
void smem_fill_sum(unsigned* out, int words) {
  MOE_LAUNCH(smem_fill_sum_kernel_, 1, 128, size_t(words) * sizeof(unsigned), nullptr)(out, words);
}
const void* smem_fill_sum_kernel() { return reinterpret_cast<const void*>(&smem_fill_sum_kernel_); }
void coverage(unsigned* counts, int nx, int ny, int nz, dim3 grid, dim3 block) {
  MOE_LAUNCH(coverage_kernel, grid, block, 0, nullptr)(counts, nx, ny, nz);
}
void touch(int* flag, dim3 grid, dim3 block, size_t smem_bytes, cudaStream_t stream) {
  MOE_LAUNCH(touch_kernel, grid, block, smem_bytes, stream)(flag);
}
void dynamic_smem_overflow(int* out, int threads) {
  MOE_LAUNCH(dynamic_smem_overflow_kernel, 1, threads, size_t(threads - 1) * sizeof(int), nullptr)(out);
}
void static_smem_overflow(int* out) { MOE_LAUNCH(static_smem_overflow_kernel, 1, 65, 0, nullptr)(out); }

}  // namespace moe::simt_test
