#pragma once
// MOE_HD marks functions that both the CPU code and CUDA kernels call, so the
// per-element formulas of kernels are tested on machines without a GPU.
#if defined(__CUDACC__)
#define MOE_HD __host__ __device__ __forceinline__
#define MOE_HD_INLINE MOE_HD
#else
#define MOE_HD inline
// Per-element formulas called inside vectorised loops: GCC otherwise may keep
// them out of line (seen for exp and sigmoid in the silu loops), and a loop
// that calls a function does not vectorise.
#define MOE_HD_INLINE inline __attribute__((always_inline))
#endif
