#pragma once
// Basic layers: Linear (no bias), RMSNorm, SwiGLU feed-forward.
#include <string>

#include "model/fp8_gemms.h"
#include "model/layout.h"
#include "model/module.h"

namespace moe::model {

// y = x @ W with W stored [in, out] (row-major, so x @ W is one GEMM and the
// weight gradient x^T @ dy reaches BLAS as a transpose).
class Linear : public Module {
 public:
  // std: init standard deviation of W. shard: this rank's slice of W
  // (dim 1: column parallel, dim 0: row parallel; default whole).
  Linear(int64_t in, int64_t out, double std, parallel::ShardSpec shard = {});
  Tensor forward(const Tensor& x) const;
  const Tensor& weight() const { return *w_; }
  // Runs this layer's GEMMs in FP8 (model/fp8_gemms.h); delayed scaling
  // registers the buffer "weight.fp8_amax_history" [1, 3, history_len].
  void use_fp8(const fp8::GemmRecipe& r, int64_t history_len);
  // Null unless the layer runs per_tensor_delayed FP8.
  fp8::DelayedScaling* fp8_state() const { return gemm_.state(); }

 private:
  Tensor* w_;
  Fp8Gemm gemm_;
};

// Linear::use_fp8 on `m` and every Linear below it, when r is set.
void use_fp8(Module& m, const std::optional<fp8::GemmRecipe>& r, int64_t history_len);

class RMSNorm : public Module {
 public:
  RMSNorm(int64_t dim, double eps);
  Tensor forward(const Tensor& x) const;

 private:
  Tensor* w_;
  double eps_;
};

// SwiGLU (Shazeer 2020): w2(silu(x w1) * (x w3)). init_std for w1/w3,
// out_std for w2 (scaled down with depth). With a tensor-parallel layout
// w1/w3 are column parallel and w2 row parallel: forward takes the full
// sequence and returns this rank's partial sum (the caller reduces).
class SwiGLU : public Module {
 public:
  SwiGLU(int64_t dim, int64_t hidden, double init_std, double out_std, const Layout& tp = {});
  Tensor forward(const Tensor& x) const;  // project(hidden(x))
  // The two halves, for a caller that interleaves them with other work.
  Tensor hidden(const Tensor& x) const;   // swiglu(x w1, x w3)
  Tensor project(const Tensor& h) const;  // h w2

 private:
  Linear w1_, w3_, w2_;
};

}  // namespace moe::model
