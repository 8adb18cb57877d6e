// The cuda:: functions of the backend seam that have no kernel in this
// build, and the CUDA allocator when there is none. Without CUDA
// (MOE_CUDA=OFF) every one is here and throws; in a CUDA build a kernel
// (core/cuda/<family>.cu) replaces its stub: move the stub's line into the
// block of stubs kept only without CUDA when the kernel lands (a leftover
// stub is a duplicate definition at link time).
#include <string>

#include "core/cuda/attention.h"
#include "core/cuda/copy.h"
#include "core/cuda/elementwise.h"
#include "core/cuda/fp8.h"
#include "core/cuda/gemm.h"
#include "core/cuda/indexing.h"
#include "core/cuda/nn.h"
#include "core/cuda/optim.h"
#include "core/cuda/reduce.h"
#include "core/cuda/softmax.h"
#include "core/cuda/streams.h"
#include "core/error.h"
#include "core/storage.h"

namespace moe {

namespace {
#if defined(MOE_WITH_CUDA) || defined(MOE_CUDA_SIM)
constexpr bool kCudaBuild = true;
#else
constexpr bool kCudaBuild = false;
#endif
}  // namespace

#if !defined(MOE_WITH_CUDA)
// A CUDA build defines it over the caching allocator (core/cuda/device_memory.cu).
int cuda_device_count() { return 0; }

Allocator* cuda_allocator(int index) {
  throw Error("cannot allocate on cuda:" + std::to_string(index) +
              ": this build has no CUDA backend (built with MOE_CUDA=OFF)");
}
#endif

namespace cuda {

namespace {
[[noreturn]] void missing(const char* fn) {
  if (kCudaBuild) throw Error(std::string("op ") + fn + " has no CUDA kernel yet");
  throw Error(std::string("op ") + fn + " has no CUDA implementation in this build");
}
}  // namespace

// Kernels in core/cuda/copy.cu and elementwise.cu: stubs only without CUDA.
#if !defined(MOE_WITH_CUDA)
void copy_strided(const Tensor&, const Tensor&, bool) { missing("copy_strided"); }
void fill(const Tensor&, double) { missing("fill"); }
void fill_uniform(const Tensor&, uint64_t, uint64_t) { missing("fill_uniform"); }
void copy_between_devices(const Tensor&, const Tensor&) { missing("copy_between_devices"); }
Tensor upload_ahead(const Tensor&, int, void**) { missing("upload_ahead"); }
void finish_upload(const Tensor&, void*) { missing("finish_upload"); }
void unary(math::Unary, const Tensor&, double, const Tensor&) { missing("unary"); }
void binary(math::Binary, const Tensor&, const Tensor&, const Tensor&) { missing("binary"); }
void swiglu(const Tensor&, const Tensor&, const Tensor&) { missing("swiglu"); }
void swiglu_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  missing("swiglu_backward");
}
void where(const Tensor&, const Tensor&, const Tensor&, const Tensor&) { missing("where"); }
#endif

// ---- copy ----
void fill_normal(const Tensor&, uint64_t, uint64_t) { missing("fill_normal"); }

// Kernels in core/cuda/reduce.cu and softmax.cu: stubs only without CUDA.
#if !defined(MOE_WITH_CUDA)
// ---- reduce ----
void reduce_rows(backend::RowReduce, const Tensor&, int64_t, int64_t, const Tensor&) { missing("reduce_rows"); }
void max_dim(const Tensor&, const Tensor&, const Tensor&, int64_t, int64_t, int64_t) { missing("max_dim"); }
void max_dim_backward(const Tensor&, const Tensor&, const Tensor&, int64_t, int64_t, int64_t) {
  missing("max_dim_backward");
}
void cumsum_dim(const Tensor&, const Tensor&, int64_t, int64_t, int64_t, bool) { missing("cumsum_dim"); }

// ---- softmax and loss ----
void softmax_rows(const Tensor&, const Tensor&, int64_t, int64_t, bool) { missing("softmax_rows"); }
void softmax_rows_backward(const Tensor&, const Tensor&, const Tensor&, int64_t, int64_t, bool) {
  missing("softmax_rows_backward");
}
void first_bad_target(const Tensor&, int64_t, int64_t, const Tensor&) { missing("first_bad_target"); }
void cross_entropy_rows(const Tensor&, const Tensor&, int64_t, const Tensor&, const Tensor&, const Tensor&, int64_t,
                        int64_t) {
  missing("cross_entropy_rows");
}
void cross_entropy_rows_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, double, int64_t,
                                 const Tensor&, int64_t, int64_t) {
  missing("cross_entropy_rows_backward");
}

#endif

// Kernels in core/cuda/nn.cu: stubs only without CUDA.
#if !defined(MOE_WITH_CUDA)
// ---- nn ----
void rms_norm_fwd(const Tensor&, const Tensor&, double, const Tensor&, const Tensor&) { missing("rms_norm_fwd"); }
void rms_norm_bwd(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  missing("rms_norm_bwd");
}
void rope(const Tensor&, double, bool, int64_t, int64_t, bool, const Tensor&) { missing("rope"); }
void embedding_first_bad(const Tensor&, int64_t, const Tensor&) { missing("embedding_first_bad"); }
void embedding_fwd(const Tensor&, const Tensor&, const Tensor&) { missing("embedding_fwd"); }
void embedding_bwd(const Tensor&, const Tensor&, const Tensor&) { missing("embedding_bwd"); }
void dropout(const Tensor&, double, uint64_t, uint64_t, const Tensor&) { missing("dropout"); }
void route_topk(const Tensor&, const Tensor&, const route_math::Spec&, const Tensor&, const Tensor&) {
  missing("route_topk");
}

#endif

// Kernels in core/cuda/attention.cu: stubs only without CUDA.
#if !defined(MOE_WITH_CUDA)
// ---- attention ----
void attention_fwd(const Tensor&, const Tensor&, const Tensor&, double, int64_t, const Tensor&, const Tensor&) {
  missing("attention_fwd");
}
void attention_bwd(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, double,
                   int64_t, const Tensor&, const Tensor&, const Tensor&) {
  missing("attention_bwd");
}
void attention_max_logits(const Tensor&, const Tensor&, double, int64_t, const Tensor&) {
  missing("attention_max_logits");
}
AttentionTiles attention_tiles(DType, int64_t, int64_t) { missing("attention_tiles"); }

#endif

// Kernels in core/cuda/indexing.cu: stubs only without CUDA.
#if !defined(MOE_WITH_CUDA)
// ---- indexing and permutation ----
void first_out_of_range(const Tensor&, int64_t, int64_t, const Tensor&) { missing("first_out_of_range"); }
void sorted_indices(const Tensor&, int64_t, int64_t, int64_t, bool, const Tensor&) { missing("sorted_indices"); }
void expert_order(const Tensor&, const Tensor&, int64_t, int64_t, const Tensor&, const Tensor&) {
  missing("expert_order");
}
void gather(const Tensor&, int64_t, const Tensor&, const Tensor&) { missing("gather"); }
void scatter_add(const Tensor&, int64_t, const Tensor&, const Tensor&) { missing("scatter_add"); }
void index_select(const Tensor&, const Tensor&, int64_t, int64_t, int64_t, const Tensor&) { missing("index_select"); }
void index_add(const Tensor&, const Tensor&, int64_t, int64_t, int64_t, const Tensor&) { missing("index_add"); }
void one_hot(const Tensor&, const Tensor&) { missing("one_hot"); }
void bincount(const Tensor&, const Tensor&) { missing("bincount"); }

#endif

// Kernels in core/cuda/gemm.cu: stubs only without CUDA.
#if !defined(MOE_WITH_CUDA)
// ---- gemm ----
void matmul(const Tensor&, const Tensor&, const Tensor&, MatmulPrecision) { missing("matmul"); }
void matmul_each(const std::vector<backend::MatmulJob>&, MatmulPrecision) { missing("matmul_each"); }

// ---- optim ----
void adamw_update(const std::vector<AdamWTensors>&) { missing("adamw_update"); }
#endif

// Kernels in core/cuda/fp8.cu: stubs only without CUDA.
#if !defined(MOE_WITH_CUDA)
// ---- fp8 ----
Tensor fp8_fprop(const Tensor&, const Tensor&, const fp8::GemmRecipe&, const fp8::ScaleSource&) {
  missing("fp8_fprop");
}
Tensor fp8_dgrad(const Tensor&, const Tensor&, const fp8::GemmRecipe&, const fp8::ScaleSource&) {
  missing("fp8_dgrad");
}
Tensor fp8_wgrad(const Tensor&, const Tensor&, const fp8::GemmRecipe&, const fp8::ScaleSource&) {
  missing("fp8_wgrad");
}
Tensor fp8_fprop_codes(const fp8::QuantizedTensor&, const Tensor&, const fp8::GemmRecipe&, const fp8::ScaleSource&) {
  missing("fp8_fprop_codes");
}
fp8::QuantizedTensor fp8_quantize(const Tensor&, fp8::Format, fp8::Layout, fp8::ScaleRounding, bool) {
  missing("fp8_quantize");
}
fp8::QuantizedTensor fp8_quantize_with_scale(const Tensor&, fp8::Format, float, bool) {
  missing("fp8_quantize_with_scale");
}
#endif

// Side streams in core/cuda/context.cu.
#if !defined(MOE_WITH_CUDA)
int side_stream_count() { return 0; }
void fork_side_streams(int, int) { missing("fork_side_streams"); }
void run_on_side_stream(int, int, const std::function<void()>&) { missing("run_on_side_stream"); }
void join_side_streams(int, int) { missing("join_side_streams"); }
#endif

}  // namespace cuda
}  // namespace moe
