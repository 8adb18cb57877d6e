#pragma once
// QK-Clip, the "Clip" of MuonClip (Kimi K2, arXiv 2507.20534): after an
// optimizer step, every attention head h whose largest pre-softmax logit in
// the step, S_max_h, exceeds `threshold` has its query and key projections
// rescaled so that logit would become `threshold`:
//   gamma_h = threshold / S_max_h,  W_q[:, head h] *= sqrt(gamma_h),
//                                   W_k[:, head h] *= sqrt(gamma_h).
// A logit q.k is bilinear in (W_q, W_k), so it scales by exactly gamma_h;
// heads at or under the threshold are untouched.
//
// Layout: weights are stored [in, out] (y = x W), and head h owns the column
// block [h * head_dim, (h + 1) * head_dim) of its projection: wq is
// [D, n_heads * head_dim_q], wk is [D, n_kv_heads * head_dim_k] with
// n_kv_heads = wk.size(1) / head_dim_k.
//
// GQA (n_kv_heads < n_heads): a key head is shared by n_heads / n_kv_heads
// query heads, each with its own gamma. Scaling the shared keys would also
// shrink the logits of heads that are fine, so shared keys are left alone
// and each clipped query head takes the whole factor, W_q[:, h] *= gamma_h
// (Kimi K2 does the same for MLA's shared rotary key: q_R takes gamma, k_R is
// untouched). With n_kv_heads == n_heads the sqrt split above applies.
//
// MLA (Kimi K2's rule for MLA): head h's logit is q_C.k_C + q_R.k_R with the
// head-specific content parts q_C, k_C, the head-specific rotary query q_R
// and the rotary key k_R shared by every head. A clipped head scales q_C and
// k_C by sqrt(gamma_h) and q_R by gamma_h, so both terms scale by gamma_h;
// k_R is untouched. The columns: head h of wq (W_q, or W_uq with a query
// latent) is [q_C (nope) | q_R (rope)] at h * (nope + rope); head h of
// wkv_b (W_kv_b) is [k_C (nope) | v (v_dim)] at h * (nope + v_dim), and the
// values are untouched.
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace moe::optim {

// wq, wk: 2-D f32 on any one device (parameters may require grad: the write
// is not recorded by autograd). max_logit_per_head: n_heads values, S_max of each
// query head (logits as fed to the softmax, i.e. after the 1/sqrt(d) scale).
// threshold <= 0 turns clipping off.
void qk_clip(Tensor& wq, Tensor& wk, int64_t n_heads, int64_t head_dim_q, int64_t head_dim_k,
             const std::vector<double>& max_logit_per_head, double threshold);

struct MlaHeadDims {
  int64_t nope = 0, rope = 0, v = 0;
};
// wq [*, n_heads * (nope + rope)], wkv_b [*, n_heads * (nope + v)]; the rest
// as qk_clip.
void qk_clip_mla(Tensor& wq, Tensor& wkv_b, int64_t n_heads, const MlaHeadDims& dims,
                 const std::vector<double>& max_logit_per_head, double threshold);

}  // namespace moe::optim
