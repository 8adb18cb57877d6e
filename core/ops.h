#pragma once
// Every tensor op of the core, declared once. Each op's forward and backward
// live together in core/ops/<group>.cc; the per-element work is done by the
// backend families of core/backend/, which run the kernels of the tensors'
// device (core/cpu/, core/cuda/). Every op with several tensor inputs
// (operands, weights, index tensors, targets) needs them on one device and
// names both devices when they are not. All ops accept
// non-contiguous inputs. Floating ops support f64 and f32; bf16/f16 inputs are
// computed in f32 and the result rounded back.
#include <cstdint>
#include <optional>
#include <vector>

#include "core/backend/optim.h"
#include "core/kernels/route_math.h"
#include "core/matmul_precision.h"
#include "core/tensor.h"

namespace moe {

// ---------------- creation (ops/creation.cc) ----------------
Tensor empty(const Shape& s, DType t = DType::f32, Device d = Device::cpu());
Tensor zeros(const Shape& s, DType t = DType::f32, Device d = Device::cpu());
Tensor ones(const Shape& s, DType t = DType::f32, Device d = Device::cpu());
Tensor full(const Shape& s, double value, DType t = DType::f32, Device d = Device::cpu());
Tensor zeros_like(const Tensor& x);
Tensor ones_like(const Tensor& x);
Tensor scalar_tensor(double v, DType t = DType::f32, Device d = Device::cpu());
// [start, end) with step, as i64 unless t says otherwise.
Tensor arange(int64_t start, int64_t end, int64_t step = 1, DType t = DType::i64);
// Builds a tensor from values (converted to t, rounding to nearest even).
Tensor from_vector(const std::vector<double>& v, const Shape& s, DType t = DType::f32,
                   Device d = Device::cpu());
// Philox-based random tensors keyed by (seed, stream): the same numbers
// whatever the thread count (see core/random.h).
Tensor rand(const Shape& s, uint64_t seed, uint64_t stream = 0, DType t = DType::f32);
Tensor randn(const Shape& s, uint64_t seed, uint64_t stream = 0, DType t = DType::f32);
Tensor clone(const Tensor& x);  // differentiable copy, contiguous
Tensor cast(const Tensor& x, DType t, bool saturate = false);  // differentiable for floats
// x on device d: x itself when already there, else a contiguous copy
// (differentiable: the gradient goes back to x's device). Tensor::to(Device).
Tensor to_device(const Tensor& x, Device d);
// x readable on the host, for reading only (no autograd): x itself on the
// CPU, else a copy, i.e. a device-to-host transfer. With to_device and
// item() / to_vector() (which use it), the only way tensor data reaches the
// host: an op that must read values on the host (sizes decided by the
// contents, error messages naming a bad value) calls it and says why.
Tensor host_copy(const Tensor& x);

// A host tensor on its way to a device while the device computes: on a GPU
// the copy runs on the device's copy stream, beside the compute stream, and
// take() orders the compute stream after it (later work sees the data, no
// host wait). On the CPU, take() returns the tensor itself. Not
// differentiable (batches, not parameters).
class Upload {
 public:
  Upload() = default;
  Upload(const Tensor& host, Device d);
  Upload(Upload&& o) noexcept;
  Upload& operator=(Upload&& o) noexcept;
  Upload(const Upload&) = delete;
  Upload& operator=(const Upload&) = delete;
  ~Upload();  // an upload never taken is still ordered before later work
  Tensor take();

 private:
  void finish();
  Tensor t_;
  void* ticket_ = nullptr;
};

// In-place (bump the version counter; not recorded by autograd: only allowed
// on tensors that do not require grad or under NoGradGuard).
void copy_(Tensor& dst, const Tensor& src);  // src broadcast to dst, any dtypes
void fill_(Tensor& dst, double value);
void add_(Tensor& dst, const Tensor& src, double alpha = 1.0);  // dst += alpha*src
void mul_(Tensor& dst, double value);

// ---------------- fused optimizer updates (ops/optim.cc) ----------------
// One AdamW step of every entry in place (the tensors and the formula:
// core/backend/optim.h); not recorded by autograd. Names the first entry
// whose dtypes, shapes, layout or device do not fit.
void adamw_update_(const std::vector<AdamWTensors>& params);

// ---------------- views (ops/views.cc): share storage, no copy ----------------
Tensor view(const Tensor& x, const Shape& s);     // needs compatible strides; -1 infers one dim
Tensor reshape(const Tensor& x, const Shape& s);  // view when possible, else copy
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& x, int64_t a, int64_t b);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Tensor select(const Tensor& x, int64_t dim, int64_t index);
Tensor expand(const Tensor& x, const Shape& s);  // -1 keeps a dim
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor contiguous(const Tensor& x);
// Sums x down to `shape` (reverses broadcasting; used by backward formulas).
Tensor sum_to(const Tensor& x, const Shape& shape);
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// ---------------- elementwise (ops/elementwise.cc) ----------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double b);
Tensor mul(const Tensor& a, double b);
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);
Tensor silu(const Tensor& x);
Tensor gelu(const Tensor& x);  // exact (erf) form
// silu(gate) * up, SwiGLU's product, as one op: one pass forward, one pass
// backward giving both gradients (the two-op form makes five). Same shapes.
Tensor swiglu(const Tensor& gate, const Tensor& up);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor abs(const Tensor& x);
// Comparisons give bool tensors (not differentiable).
Tensor eq(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
// cond ? a : b with broadcasting; gradient flows to the chosen side.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& a) { return neg(a); }
inline Tensor operator*(const Tensor& a, double b) { return mul(a, b); }
inline Tensor operator+(const Tensor& a, double b) { return add(a, b); }

// ---------------- reductions and normalisers (ops/reduction.cc) ----------------
// dims empty = all dims.
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
// 0-d f64: the sum of x's squares, each squared and added in f64, in one
// pass (no temporaries). No autograd (gradient norms).
Tensor sum_of_squares(const Tensor& x);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor amax(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
struct ValuesIndices {
  Tensor values;
  Tensor indices;  // i64
};
// Max along one dim with its (first) index; gradient flows to that index.
ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor softmax(const Tensor& x, int64_t dim = -1);
Tensor log_softmax(const Tensor& x, int64_t dim = -1);
Tensor cumsum(const Tensor& x, int64_t dim);
enum class Reduction { mean, sum, none };
// logits [N, C] (or [..., C]), target i64 [N] (or [...]); targets equal to
// ignore_index contribute nothing; mean divides by the non-ignored count.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index = -100,
                     Reduction reduction = Reduction::mean);

// ---------------- linear algebra (ops/linalg.cc) ----------------
// a [..., M, K] @ b [..., K, N]; 1-D operands as in numpy; batch dims
// broadcast. Transposed (column-major) operands go to BLAS as transposes.
// f32 products (these three ops, forward and backward) run at the thread's
// MatmulPrecision (core/matmul_precision.h) of the forward.
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor bmm(const Tensor& a, const Tensor& b);  // [B,M,K] @ [B,K,N], no broadcasting
// Grouped GEMM (the MoE experts): the rows of x [R, K] form consecutive groups
// of group_rows[g] rows (summing to R); output rows of group g are
// x_g @ w[g] for w [G, K, N]. Returns [R, N]; empty groups are allowed.
// group_rows are host values (cuBLAS's grouped GEMM takes its sizes on the host
// too): a caller that counts them on a device reads them with host_copy.
Tensor grouped_matmul(const Tensor& x, const Tensor& w, const std::vector<int64_t>& group_rows);

// ---------------- FP8 linear layers (ops/fp8.cc; recipes: core/fp8/recipe.h) ----------------
// y = x [..., K] @ w [K, N] (f32) whose forward (y = x w), input-gradient
// (dx = dy w^T) and weight-gradient (dw = x^T dy) GEMMs each run as an
// emulated FP8 GEMM (core/fp8/linear.h) when the recipe selects that pass,
// else as matmul at the forward's MatmulPrecision. Straight-through: the
// gradients are those of x w, computed from quantised operands, and reach the
// f32 x and w. per_tensor_delayed needs `state` (one group): its scales are
// used, and passes that build a graph record their amaxes into it.
namespace fp8 {
struct GemmRecipe;
class DelayedScaling;
struct QuantizedTensor;
}  // namespace fp8
Tensor fp8_matmul(const Tensor& x, const Tensor& w, const fp8::GemmRecipe& recipe,
                  fp8::DelayedScaling* state = nullptr);
// grouped_matmul with each group (expert) an FP8 linear of its own: w[g] its
// own 128x128 blocks or per-tensor scale, group g of `state` (G groups).
// x_codes: x's rows already quantised (E4M3, 1x128 tiles, e.g. the FP8
// dispatch's arrivals): a tile-wise recipe's fprop multiplies them instead
// of quantising x (backward still reads x); other recipes ignore them.
Tensor fp8_grouped_matmul(const Tensor& x, const Tensor& w, const std::vector<int64_t>& group_rows,
                          const fp8::GemmRecipe& recipe, fp8::DelayedScaling* state = nullptr,
                          const fp8::QuantizedTensor* x_codes = nullptr);

// ---------------- neural-network ops (ops/nn.cc) ----------------
// y = x * rsqrt(mean(x^2, -1) + eps) * weight; weight [D], x [..., D].
Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps = 1e-6);
enum class RopeStyle { interleaved, half_split };
// x [B, T, H, Dh] (rotary dims = the first rot_dim of Dh, default all);
// position of token t is position_offset + t; theta_i = base^(-2i/rot_dim).
Tensor rope(const Tensor& x, double base = 10000.0, RopeStyle style = RopeStyle::half_split,
            int64_t position_offset = 0, int64_t rot_dim = -1);
// Causal attention. q [B, T, H, Dh], k/v [B, S, Hkv, Dh(v)] with H % Hkv == 0
// (GQA), S == T. window > 0 keeps only keys j with i - window < j <= i.
// scale <= 0 means 1/sqrt(Dh). Returns [B, T, H, Dv].
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    double scale = 0.0, int64_t window = 0);
// Largest scaled logit scale * q_i . k_j over each (batch, query head)'s
// causal window: [B, H], no autograd (QK-Clip's statistic). Same q/k
// layout, scale and window rules as scaled_dot_product_attention.
Tensor attention_max_logits(const Tensor& q, const Tensor& k, double scale = 0.0, int64_t window = 0);
// weight [V, D], ids integer [...] -> [..., D]; backward is a scatter-add.
Tensor embedding(const Tensor& weight, const Tensor& ids);
// Zeroes each element with probability p (Philox keyed by seed, stream),
// scales the rest by 1/(1-p).
Tensor dropout(const Tensor& x, double p, uint64_t seed, uint64_t stream = 0);
// The router's expert selection (core/kernels/route_math.h) on the scores'
// device: scores [N, E] (read in f32), bias [E] or undefined. experts i32
// [N, K], best first; affinity f32 [N, K], their scores without the bias.
// No autograd: gates gather from the scores. An inconsistent spec is an
// error naming E, K, G and M.
struct TopkRoute {
  Tensor experts, affinity;
};
TopkRoute route_topk(const Tensor& scores, const Tensor& bias, const route_math::Spec& s);

// ---------------- indexing and shape ops (ops/indexing.cc) ----------------
// k largest along the last dim, sorted descending, ties broken by lower index.
ValuesIndices topk(const Tensor& x, int64_t k);
// Stable sort along dim (equal values keep their order).
ValuesIndices sort(const Tensor& x, int64_t dim = -1, bool descending = false);
Tensor argsort(const Tensor& x, int64_t dim = -1, bool descending = false);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
// out = x; out[index[i]][...] += src[i] along dim (torch.scatter_add semantics).
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// out = x; out.select(dim, index[i]) += src.select(dim, i).
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor one_hot(const Tensor& ids, int64_t num_classes);  // i64 [..., C]
Tensor bincount(const Tensor& ids, int64_t minlength = 0);  // i64 counts
// The MoE travel order on the experts' device: a stable sort of
// assignments a = t * K + k by expert. experts i32 [A] in [0, E) (the
// router's selections), keep b8 [A] or undefined (all kept), `kept` the
// number kept (the plan knows it: no host read). assignments i64 [kept]:
// kept a in order of (expert, a); tokens: a / K.
struct ExpertOrder {
  Tensor assignments, tokens;
};
ExpertOrder expert_order(const Tensor& experts, const Tensor& keep, int64_t E, int64_t K, int64_t kept);
Tensor cat(const std::vector<Tensor>& xs, int64_t dim);
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim);
Tensor stack(const std::vector<Tensor>& xs, int64_t dim);

}  // namespace moe
