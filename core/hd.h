#pragma once
// MOE_HD marks functions that both the CPU code and CUDA kernels call, so the
// per-element formulas of kernels are tested on machines without a GPU.
// Under the SIMT shim (MOE_CUDA_SIM) kernels are host code: __CUDACC__ and
// __CUDA_ARCH__ stay undefined and the host definitions below apply.
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

// Full unrolling of a loop with a constant trip count: in kernels, arrays
// indexed by its variable then stay in registers and parameter space
// instead of local memory.
#if defined(__CUDACC__)
#define MOE_UNROLL _Pragma("unroll")
#else
#define MOE_UNROLL _Pragma("GCC unroll 16")
#endif
