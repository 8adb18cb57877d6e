#pragma once
// Test kernels of the SIMT shim (kernels.cu: CUDA source, compiled as host C++
// on the shim for the tests, and by nvcc for sm_90a where CUDA is built, so it
// stays valid CUDA). Each function launches one kernel on device pointers;
// launch errors and kernel faults are left to cudaGetLastError.
#include <cstdint>

#include "core/cuda/runtime.h"

namespace moe::simt_test {

constexpr int kSumThreads = 128;
// partial[b] = sum of block b's grid-stride share of in[0, n); `blocks` blocks of kSumThreads.
void block_sum(const long long* in, long long* partial, int64_t n, int blocks, cudaStream_t stream = nullptr);
// The same with the barrier between the shared-memory writes and the tree's
// first reads left out: a race, for TSan to find.
void block_sum_racy(const long long* in, long long* partial, int64_t n, int blocks);
// 1024 threads, one block: *out = sum of in[0, 1024).
void block_sum_1024(const int* in, int* out);

// One thread per element, `threads` per block (a multiple of 32):
// xor_sum[i] = sum of i's warp (butterfly, every lane); down_sum[i] the
// __shfl_down_sync tree (lane 0 holds the sum); up_scan[i] the inclusive
// prefix sum within the warp; bcast8[i] = in of lane 3 of i's 8-lane segment;
// up1[i] = __shfl_up_sync by 1, down8[i] = __shfl_down_sync by 3 in 8-lane
// segments (a source outside the segment gives the lane's own value).
void warp_shuffles(const int* in, int* xor_sum, int* down_sum, int* up_scan, int* bcast8, int* up1, int* down8, int n,
                   int threads);
// Blocks of `threads` (any count: the last warp may be partial), pred = in[i] > 0:
// per warp ballot/any/all, per block __syncthreads_count / _and / _or.
void warp_votes(const int* in, unsigned* ballot, int* any, int* all, int* block_count, int* block_and,
                int* block_or, int blocks, int threads);
// One warp: add/max reductions and match_any of in[lane] (u: unsigned, s: int).
void warp_reduce_match(const unsigned* u, const int* s, unsigned* add, int* max, unsigned* match);

// Mask errors, one warp each: lanes 16-31 skip a full-mask shuffle and exit;
// ... and wait at __syncthreads instead; lane 3 passes mask 0x0000ffff where
// the others pass 0xffffffff; every lane passes a mask without lane 0.
void diverged_exit(int* out);
void diverged_barrier(int* out);
void mismatched_mask(int* out);
void mask_without_self(int* out);
// 64 threads: `lane` calls __trap() (none if out of range), the others wait
// at a barrier and then set out[thread] = 1.
void trap_in_lane(int* out, int lane, cudaStream_t stream = nullptr);

// hist[v[i]] += 1 for i < n: global atomics, and a shared-memory histogram merged per block.
constexpr int kBins = 37;
void histogram_global(const int* v, int n, unsigned* hist, int blocks, int threads);
void histogram_shared(const int* v, int n, unsigned* hist, int blocks, int threads);
// atomicMax / atomicMin / atomicAdd (ull, float) / atomicCAS counter over v[0, n).
void atomics(const int* v, int n, int* mx, int* mn, unsigned long long* sum, float* fsum, int* cas_count,
             int blocks, int threads);

// Dynamic shared memory: out = in reversed within each block of `threads`
// (n a multiple of it); `smem_bytes` is passed to the launch as given.
void reverse_blocks(const float* in, float* out, int n, int threads, size_t smem_bytes);
// Fills `words` 32-bit words of dynamic shared memory and sums them into *out.
void smem_fill_sum(unsigned* out, int words);
const void* smem_fill_sum_kernel();  // for cudaFuncSetAttribute

// counts[(z*ny + y)*nx + x] += 1 over a 3-D grid-stride loop with grid and
// block given (each element must be counted once).
void coverage(unsigned* counts, int nx, int ny, int nz, dim3 grid, dim3 block);
// Thread 0 of block 0 sets *flag = 1; launched with the given configuration.
void touch(int* flag, dim3 grid, dim3 block, size_t smem_bytes, cudaStream_t stream);

// Out-of-bounds shared memory, for ASan: thread `threads-1` writes one int past
// the dynamic buffer of threads-1 ints; a 65-thread block indexes a static
// 64-int array by threadIdx.x.
void dynamic_smem_overflow(int* out, int threads);
void static_smem_overflow(int* out);

}  // namespace moe::simt_test
