#pragma once
// SIMT host shim: CUDA kernel sources compiled as host C++ (-DMOE_CUDA=SIM, or
// any target defining MOE_CUDA_SIM), so kernels run, and run under ASan/UBSan
// and TSan, on machines without a GPU. Kernel sources include
// core/cuda/runtime.h, which selects this header or the CUDA toolkit's.
//
// Execution model (simt.cc):
// - A launch runs its blocks one at a time; each CUDA thread of the block is a
//   fiber (its own stack) on the host thread that runs the launch, switched
//   at barriers, warp exchanges and its end, so a switch costs a register
//   swap rather than an OS wake-up. TSan is told of every fiber and sees each
//   as a thread: races on shared memory between barriers are reported. One
//   launch runs at a time per process.
// - __shared__ is `static`: since only one block of one launch executes at a
//   time, a function-local static array is exactly that block's shared
//   memory; the block-end join of all its threads orders one block's accesses
//   before the next block's (no false races). Like the GPU's, its contents are
//   left over from earlier blocks, not zeroed.
// - MOE_SIMT_PROFILE=1 prints launches, blocks and seconds per kernel at exit.
// - Dynamic shared memory (MOE_DYNAMIC_SHARED) is a heap buffer of exactly the
//   launch's byte count, filled with 0xFF (NaN / -1) so uninitialised reads show.
// - __syncthreads is a barrier of the block's live threads (exited threads drop
//   out, as on sm_70+). Warp intrinsics are exchanges among the lanes named in
//   the mask; a named lane that exits or waits elsewhere, mismatched masks or
//   intrinsics, or a deadlock abort the block with a message naming the kernel,
//   block, lanes and masks (cudaErrorLaunchFailure; moe::simt::error_detail()).
// - A created stream is a queue run by its own host thread; the default
//   streams run their work on the calling thread (runtime_api.cc).
#if !defined(MOE_CUDA_SIM)
#error "core/cuda/simt/simt.h is the MOE_CUDA_SIM shim: include core/cuda/runtime.h"
#endif

#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

#include "core/dtype_convert.h"

// ---- CUDA keywords --------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __constant__
#define __managed__
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
#define __shared__ static

// ---- Built-in types and variables -----------------------------------------
struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return {x, y, z}; }
};
struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) int2 { int x, y; };
struct alignas(16) int4 { int x, y, z, w; };
struct alignas(8) uint2 { unsigned x, y; };
struct alignas(16) uint4 { unsigned x, y, z, w; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline int2 make_int2(int x, int y) { return {x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }

constexpr int warpSize = 32;

namespace moe::simt::detail {
class Block;
// A CUDA thread's coordinates (each fiber of simt.cc has its own).
struct ThreadCtx {
  uint3 thread_idx{0, 0, 0}, block_idx{0, 0, 0};
  dim3 block_dim{1, 1, 1}, grid_dim{1, 1, 1};
  Block* block = nullptr;  // null outside a kernel
  int tid = 0;             // linear thread index in the block (x fastest)
};
// The running CUDA thread's coordinates on this host thread; null outside a
// kernel. A pointer, switched with the fiber, so that no two CUDA threads
// share the memory (TSan would see their writes as races).
inline thread_local ThreadCtx* t_ctx = nullptr;
}  // namespace moe::simt::detail

// Read-only, as in CUDA.
#define threadIdx (static_cast<const uint3&>(::moe::simt::detail::t_ctx->thread_idx))
#define blockIdx (static_cast<const uint3&>(::moe::simt::detail::t_ctx->block_idx))
#define blockDim (static_cast<const dim3&>(::moe::simt::detail::t_ctx->block_dim))
#define gridDim (static_cast<const dim3&>(::moe::simt::detail::t_ctx->grid_dim))

// ---- Runtime API (the subset the backend uses; values as in the toolkit) ---
enum cudaError {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInitializationError = 3,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInvalidMemcpyDirection = 21,
  cudaErrorInvalidDeviceFunction = 98,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotReady = 600,
  cudaErrorLaunchFailure = 719,
  cudaErrorUnknown = 999,
};
typedef enum cudaError cudaError_t;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
enum cudaDeviceAttr {
  cudaDevAttrMaxThreadsPerBlock = 1,
  cudaDevAttrMaxBlockDimX = 2,
  cudaDevAttrMaxBlockDimY = 3,
  cudaDevAttrMaxBlockDimZ = 4,
  cudaDevAttrMaxGridDimX = 5,
  cudaDevAttrMaxGridDimY = 6,
  cudaDevAttrMaxGridDimZ = 7,
  cudaDevAttrMaxSharedMemoryPerBlock = 8,
  cudaDevAttrWarpSize = 10,
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrComputeCapabilityMajor = 75,
  cudaDevAttrComputeCapabilityMinor = 76,
  cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
};
enum cudaFuncAttribute {
  cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
};

struct CUstream_st;
struct CUevent_st;
typedef struct CUstream_st* cudaStream_t;
typedef struct CUevent_st* cudaEvent_t;
#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01
#define cudaStreamLegacy ((cudaStream_t)0x1)
#define cudaStreamPerThread ((cudaStream_t)0x2)
#define cudaEventDefault 0x00
#define cudaEventBlockingSync 0x01
#define cudaEventDisableTiming 0x02

cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorName(cudaError_t error);
const char* cudaGetErrorString(cudaError_t error);

cudaError_t cudaMalloc(void** ptr, size_t bytes);
cudaError_t cudaFree(void* ptr);
cudaError_t cudaMallocHost(void** ptr, size_t bytes);
cudaError_t cudaFreeHost(void* ptr);
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream = 0);
cudaError_t cudaMemset(void* ptr, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t stream = 0);

cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamQuery(cudaStream_t stream);
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned flags = 0);
#define CUDART_CB
typedef void (*cudaHostFn_t)(void* user_data);
cudaError_t cudaLaunchHostFunc(cudaStream_t stream, cudaHostFn_t fn, void* user_data);

cudaError_t cudaEventCreate(cudaEvent_t* event);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = 0);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventQuery(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);

cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value);
template <typename T>
cudaError_t cudaFuncSetAttribute(T* func, cudaFuncAttribute attr, int value) {
  return cudaFuncSetAttribute(reinterpret_cast<const void*>(func), attr, value);
}

namespace moe::simt {
// Text describing the shim's latest error on this host thread (the launch
// configuration at fault, the kernel fault), or "" when `err` is not that error.
const char* error_detail(cudaError_t err);
// Capacity cudaMalloc allows in total (default 16 GiB), so out-of-memory
// paths can be tested.
void set_device_memory_limit(size_t bytes);
}  // namespace moe::simt

// ---- Synchronisation and warp intrinsics ----------------------------------
namespace moe::simt::detail {
enum class WarpOp : uint8_t {
  kSync, kShflIdx, kShflUp, kShflDown, kShflXor, kBallot, kAny, kAll,
  kReduceAddU, kReduceMinU, kReduceMaxU, kReduceMinI, kReduceMaxI,
  kReduceAnd, kReduceOr, kReduceXor, kMatchAny, kMatchAll,
};
// The lane contributes `value` (and `param`: source lane, delta or lane mask)
// to the exchange among the lanes of `mask`; returns its result.
uint64_t warp_exchange(WarpOp op, unsigned mask, uint64_t value, int param, int width);
// Barrier of the block; returns the number of threads whose `pred` was non-zero.
int block_barrier(int pred);
unsigned active_mask();
unsigned char* dynamic_smem();
[[noreturn]] void trap(const char* what);

template <typename T>
uint64_t to_bits(T v) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "warp exchange of a type over 8 bytes");
  uint64_t u = 0;
  std::memcpy(&u, &v, sizeof(T));
  return u;
}
template <typename T>
T from_bits(uint64_t u) {
  T v;
  std::memcpy(&v, &u, sizeof(T));
  return v;
}
}  // namespace moe::simt::detail

inline void __syncthreads() { (void)::moe::simt::detail::block_barrier(0); }
inline int __syncthreads_count(int pred) { return ::moe::simt::detail::block_barrier(pred); }
inline int __syncthreads_and(int pred) {
  return ::moe::simt::detail::block_barrier(!pred) == 0;  // counts the false ones
}
inline int __syncthreads_or(int pred) { return ::moe::simt::detail::block_barrier(pred) != 0; }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  (void)::moe::simt::detail::warp_exchange(::moe::simt::detail::WarpOp::kSync, mask, 0, 0, warpSize);
}
inline unsigned __activemask() { return ::moe::simt::detail::active_mask(); }

template <typename T>
T __shfl_sync(unsigned mask, T var, int src_lane, int width = warpSize) {
  using namespace ::moe::simt::detail;
  return from_bits<T>(warp_exchange(WarpOp::kShflIdx, mask, to_bits(var), src_lane, width));
}
template <typename T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
  using namespace ::moe::simt::detail;
  return from_bits<T>(warp_exchange(WarpOp::kShflUp, mask, to_bits(var), int(delta), width));
}
template <typename T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
  using namespace ::moe::simt::detail;
  return from_bits<T>(warp_exchange(WarpOp::kShflDown, mask, to_bits(var), int(delta), width));
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize) {
  using namespace ::moe::simt::detail;
  return from_bits<T>(warp_exchange(WarpOp::kShflXor, mask, to_bits(var), lane_mask, width));
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
  using namespace ::moe::simt::detail;
  return unsigned(warp_exchange(WarpOp::kBallot, mask, pred != 0, 0, warpSize));
}
inline int __any_sync(unsigned mask, int pred) {
  using namespace ::moe::simt::detail;
  return int(warp_exchange(WarpOp::kAny, mask, pred != 0, 0, warpSize));
}
inline int __all_sync(unsigned mask, int pred) {
  using namespace ::moe::simt::detail;
  return int(warp_exchange(WarpOp::kAll, mask, pred != 0, 0, warpSize));
}
#define MOE_SIMT_REDUCE(name, T, op)                                                          \
  inline T name(unsigned mask, T value) {                                                     \
    using namespace ::moe::simt::detail;                                                      \
    return from_bits<T>(warp_exchange(WarpOp::op, mask, to_bits(value), 0, warpSize));        \
  }
MOE_SIMT_REDUCE(__reduce_add_sync, unsigned, kReduceAddU)
MOE_SIMT_REDUCE(__reduce_add_sync, int, kReduceAddU)  // two's complement: the same bits
MOE_SIMT_REDUCE(__reduce_min_sync, unsigned, kReduceMinU)
MOE_SIMT_REDUCE(__reduce_max_sync, unsigned, kReduceMaxU)
MOE_SIMT_REDUCE(__reduce_min_sync, int, kReduceMinI)
MOE_SIMT_REDUCE(__reduce_max_sync, int, kReduceMaxI)
MOE_SIMT_REDUCE(__reduce_and_sync, unsigned, kReduceAnd)
MOE_SIMT_REDUCE(__reduce_or_sync, unsigned, kReduceOr)
MOE_SIMT_REDUCE(__reduce_xor_sync, unsigned, kReduceXor)
#undef MOE_SIMT_REDUCE
template <typename T>
unsigned __match_any_sync(unsigned mask, T value) {
  using namespace ::moe::simt::detail;
  return unsigned(warp_exchange(WarpOp::kMatchAny, mask, to_bits(value), 0, warpSize));
}
template <typename T>
unsigned __match_all_sync(unsigned mask, T value, int* pred) {
  using namespace ::moe::simt::detail;
  const unsigned m = unsigned(warp_exchange(WarpOp::kMatchAll, mask, to_bits(value), 0, warpSize));
  *pred = m != 0;
  return m;
}
inline void __trap() { ::moe::simt::detail::trap("__trap()"); }

// ---- Memory fences, loads, atomics ----------------------------------------
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_system() { std::atomic_thread_fence(std::memory_order_seq_cst); }
template <typename T> T __ldg(const T* p) { return *p; }
template <typename T> T __ldcg(const T* p) { return *p; }
template <typename T> T __ldcs(const T* p) { return *p; }
template <typename T> void __stcg(T* p, T v) { *p = v; }
template <typename T> void __stcs(T* p, T v) { *p = v; }

// Atomics are std::atomic_ref read-modify-writes. They are acq_rel rather than
// CUDA's relaxed order: TSan does not model fences, so __threadfence + relaxed
// atomic handshakes would otherwise be reported as races.
namespace moe::simt::detail {
template <typename T, typename F>
T atomic_update(T* addr, F f) {
  std::atomic_ref<T> ref(*addr);
  T old = ref.load(std::memory_order_relaxed);
  while (!ref.compare_exchange_weak(old, f(old), std::memory_order_acq_rel, std::memory_order_relaxed)) {
  }
  return old;
}
}  // namespace moe::simt::detail
#define MOE_SIMT_ATOMIC(name, T, expr)                                                                 \
  inline T name(T* addr, T val) {                                                                      \
    return ::moe::simt::detail::atomic_update(addr, [val]([[maybe_unused]] T old) { return static_cast<T>(expr); }); \
  }
#define MOE_SIMT_ATOMIC_INT(T)                   \
  MOE_SIMT_ATOMIC(atomicAdd, T, old + val)       \
  MOE_SIMT_ATOMIC(atomicExch, T, val)            \
  MOE_SIMT_ATOMIC(atomicMin, T, val < old ? val : old) \
  MOE_SIMT_ATOMIC(atomicMax, T, val > old ? val : old) \
  MOE_SIMT_ATOMIC(atomicAnd, T, old & val)       \
  MOE_SIMT_ATOMIC(atomicOr, T, old | val)        \
  MOE_SIMT_ATOMIC(atomicXor, T, old ^ val)
MOE_SIMT_ATOMIC_INT(int)
MOE_SIMT_ATOMIC_INT(unsigned)
MOE_SIMT_ATOMIC_INT(unsigned long long)
MOE_SIMT_ATOMIC(atomicMin, long long, val < old ? val : old)
MOE_SIMT_ATOMIC(atomicMax, long long, val > old ? val : old)
MOE_SIMT_ATOMIC(atomicSub, int, old - val)
MOE_SIMT_ATOMIC(atomicSub, unsigned, old - val)
MOE_SIMT_ATOMIC(atomicAdd, float, old + val)
MOE_SIMT_ATOMIC(atomicAdd, double, old + val)
MOE_SIMT_ATOMIC(atomicExch, float, val)
MOE_SIMT_ATOMIC(atomicInc, unsigned, old >= val ? 0u : old + 1)
MOE_SIMT_ATOMIC(atomicDec, unsigned, (old == 0u || old > val) ? val : old - 1)
#undef MOE_SIMT_ATOMIC_INT
#undef MOE_SIMT_ATOMIC
template <typename T>
T atomicCAS(T* addr, T compare, T val) {
  static_assert(std::is_same_v<T, int> || std::is_same_v<T, unsigned> || std::is_same_v<T, unsigned long long> ||
                    std::is_same_v<T, unsigned short>,
                "atomicCAS takes int, unsigned, unsigned long long or unsigned short");
  std::atomic_ref<T>(*addr).compare_exchange_strong(compare, val, std::memory_order_acq_rel,
                                                    std::memory_order_relaxed);
  return compare;  // the old value whether or not the swap happened
}

// ---- Math and bit intrinsics ------------------------------------------------
inline float __expf(float x) { return std::exp(x); }
inline float __exp10f(float x) { return std::pow(10.0f, x); }
inline float __logf(float x) { return std::log(x); }
inline float __log2f(float x) { return std::log2(x); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanf(float x) { return std::tan(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __frsqrt_rn(float x) { return 1.0f / std::sqrt(x); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float __saturatef(float x) { return x >= 1.0f ? 1.0f : (x > 0.0f ? x : 0.0f); }  // NaN -> 0
inline int __float2int_rn(float x) { return int(std::nearbyint(x)); }
inline int __float2int_rz(float x) { return int(x); }
inline unsigned __float2uint_rn(float x) { return unsigned(std::nearbyint(x)); }
inline unsigned __float_as_uint(float x) { return ::moe::fp::f32_bits(x); }
inline float __uint_as_float(unsigned u) { return ::moe::fp::f32_from_bits(u); }
inline int __float_as_int(float x) { return int(::moe::fp::f32_bits(x)); }
inline float __int_as_float(int i) { return ::moe::fp::f32_from_bits(unsigned(i)); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(unsigned(x)); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll((unsigned long long)x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned __brev(unsigned x) {
  unsigned r = 0;
  for (int i = 0; i < 32; ++i, x >>= 1) r = (r << 1) | (x & 1u);
  return r;
}
inline unsigned __umulhi(unsigned a, unsigned b) { return unsigned((uint64_t(a) * b) >> 32); }
// CUDA's device-side integer and float min/max overloads.
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long min(long a, long b) { return a < b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }
inline unsigned long min(unsigned long a, unsigned long b) { return a < b ? a : b; }
inline unsigned long max(unsigned long a, unsigned long b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }

// bf16 / f16 values with the bit conversions of core/dtype_convert.h (round to
// nearest even, as __float2bfloat16 / __float2half).
struct __nv_bfloat16 {
  uint16_t bits_;
  __nv_bfloat16() = default;
  __nv_bfloat16(float f) : bits_(::moe::fp::f32_to_bf16(f)) {}
  operator float() const { return ::moe::fp::bf16_to_f32(bits_); }
};
struct __half {
  uint16_t bits_;
  __half() = default;
  __half(float f) : bits_(::moe::fp::f32_to_f16(f)) {}
  operator float() const { return ::moe::fp::f16_to_f32(bits_); }
};
inline __nv_bfloat16 __float2bfloat16(float f) { return __nv_bfloat16(f); }
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16(f); }
inline float __bfloat162float(__nv_bfloat16 b) { return float(b); }
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 b) { return b.bits_; }
inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short u) {
  __nv_bfloat16 b;
  b.bits_ = u;
  return b;
}
inline __half __float2half(float f) { return __half(f); }
inline __half __float2half_rn(float f) { return __half(f); }
inline float __half2float(__half h) { return float(h); }
inline unsigned short __half_as_ushort(__half h) { return h.bits_; }
inline __half __ushort_as_half(unsigned short u) {
  __half h;
  h.bits_ = u;
  return h;
}

// ---- Launch ---------------------------------------------------------------
namespace moe::simt {
struct LaunchConfig {
  dim3 grid, block;
  size_t smem_bytes;
  cudaStream_t stream;
  const char* name;   // the kernel expression as written at the launch
  const void* func;   // key of cudaFuncSetAttribute
};
namespace detail {
struct KernelArgs {  // a launch's kernel and converted arguments
  virtual ~KernelArgs() = default;
  virtual void run() = 0;
};
// Checks the configuration (the error goes to cudaGetLastError, as a failed
// <<<>>> launch's does), then runs args->run() on every thread of every block,
// in the order of cfg.stream.
void launch(const LaunchConfig& cfg, std::shared_ptr<KernelArgs> args);
}  // namespace detail

template <typename... P>
class Launcher {
 public:
  Launcher(void (*fn)(P...), LaunchConfig cfg) : fn_(fn), cfg_(cfg) {}
  template <typename... A>
  void operator()(A&&... args) const {
    static_assert(sizeof...(A) == sizeof...(P), "kernel launched with the wrong number of arguments");
    using Tuple = std::tuple<std::decay_t<P>...>;
    // Converted once, like CUDA's parameter buffer; each thread gets its own copies.
    struct Args final : detail::KernelArgs {
      Args(void (*f)(P...), Tuple&& t) : fn(f), args(std::move(t)) {}
      void run() override { std::apply(fn, args); }
      void (*fn)(P...);
      Tuple args;
    };
    detail::launch(cfg_, std::make_shared<Args>(fn_, Tuple(std::forward<A>(args)...)));
  }

 private:
  void (*fn_)(P...);
  LaunchConfig cfg_;
};
template <typename... P>
Launcher<P...> make_launcher(void (*fn)(P...), const char* name, dim3 grid, dim3 block, size_t smem,
                             cudaStream_t stream) {
  return Launcher<P...>(fn, LaunchConfig{grid, block, smem, stream, name, reinterpret_cast<const void*>(fn)});
}
}  // namespace moe::simt

// MOE_LAUNCH(kernel, grid, block, smem_bytes, stream)(args...): see runtime.h.
#define MOE_LAUNCH(kernel, grid, block, smem, stream) \
  ::moe::simt::make_launcher(kernel, #kernel, grid, block, smem, stream)
// MOE_DYNAMIC_SHARED(T, name): `T* name` = this launch's dynamic shared memory.
#define MOE_DYNAMIC_SHARED(T, name) T* name = reinterpret_cast<T*>(::moe::simt::detail::dynamic_smem())
