#include "model/layers.h"

#include "core/error.h"
#include "core/ops.h"

namespace moe::model {

Linear::Linear(int64_t in, int64_t out, double std, parallel::ShardSpec shard)
    : w_(&parameter("weight", {in, out}, Init::normal, std, shard)) {}

Tensor Linear::forward(const Tensor& x) const { return gemm_.matmul(x, *w_); }

void Linear::use_fp8(const fp8::GemmRecipe& r, int64_t history_len) {
  MOE_CHECK(!gemm_.fp8(), "Linear::use_fp8: the layer runs in FP8 already");
  gemm_ = Fp8Gemm(r, 1, history_len);
  // The weight's slice under TP; per-tensor recipes (the only stateful ones)
  // are refused with TP > 1 (launch/config_validate.cc), so it is whole.
  if (gemm_.state()) buffer("weight.fp8_amax_history", gemm_.state()->history());
}

void use_fp8(Module& m, const std::optional<fp8::GemmRecipe>& r, int64_t history_len) {
  if (!r) return;
  if (auto* l = dynamic_cast<Linear*>(&m)) l->use_fp8(*r, history_len);
  for (Module* d : m.submodules())
    if (auto* l = dynamic_cast<Linear*>(d)) l->use_fp8(*r, history_len);
}

RMSNorm::RMSNorm(int64_t dim, double eps) : w_(&parameter("weight", {dim}, Init::ones)), eps_(eps) {}

Tensor RMSNorm::forward(const Tensor& x) const { return rms_norm(x, *w_, eps_); }

SwiGLU::SwiGLU(int64_t dim, int64_t hidden, double init_std, double out_std, const Layout& tp)
    : w1_(dim, hidden, init_std, tp.tp_split(1)),
      w3_(dim, hidden, init_std, tp.tp_split(1)),
      w2_(hidden, dim, out_std, tp.tp_split(0)) {
  child("w1", &w1_);
  child("w3", &w3_);
  child("w2", &w2_);
}

Tensor SwiGLU::hidden(const Tensor& x) const { return swiglu(w1_.forward(x), w3_.forward(x)); }
Tensor SwiGLU::project(const Tensor& h) const { return w2_.forward(h); }
Tensor SwiGLU::forward(const Tensor& x) const { return project(hidden(x)); }

}  // namespace moe::model
