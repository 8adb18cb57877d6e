#pragma once
// MOE_HD marks functions that both the CPU code and CUDA kernels call, so the
// per-element formulas of kernels are tested on machines without a GPU.
#if defined(__CUDACC__)
#define MOE_HD __host__ __device__ __forceinline__
#else
#define MOE_HD inline
#endif
