#pragma once
// Decoder-only transformer: token embedding, pre-norm blocks (attention +
// dense SwiGLU or DeepSeekMoE FFN), final RMSNorm, output head (optionally
// tied to the embedding), and DeepSeek-V3 multi-token prediction.
#include <memory>
#include <vector>

#include "core/matmul_precision.h"
#include "model/attention.h"
#include "model/config.pb.h"
#include "model/moe_layer.h"

namespace moe::model {

class Block : public Module {
 public:
  Block(const config::ModelConfig& c, int64_t layer, double out_std, const Layout& layout = {});
  Tensor forward(const Tensor& x, const BatchInfo& info);
  MoeLayer* moe() { return moe_.get(); }
  Attention& attention() { return *attn_; }

 private:
  // Sequence parallel -> tensor parallel region and back (identity on one rank).
  Tensor to_tp(const Tensor& x) const;
  Tensor from_tp(const Tensor& x) const;
  int64_t layer_;
  double dropout_;
  Layout layout_;
  RMSNorm attn_norm_, ffn_norm_;
  std::unique_ptr<Attention> attn_;
  std::unique_ptr<SwiGLU> dense_;
  std::unique_ptr<MoeLayer> moe_;
};

// DeepSeek-V3 MTP module k: h'_i = proj([RMSNorm(h_i); RMSNorm(Emb(t_{i+k}))])
// through one more block; predicts t_{i+k+1} with the shared head.
class MtpModule : public Module {
 public:
  MtpModule(const config::ModelConfig& c, int64_t layer, double out_std, const Layout& layout = {});
  Tensor forward(const Tensor& h, const Tensor& emb_next, const BatchInfo& info);
  Block& block() { return block_; }

 private:
  RMSNorm hnorm_, enorm_;
  Linear proj_;
  Block block_;
};

struct LossParts {
  Tensor total;  // lm + mtp + aux terms: what backward runs on
  Tensor lm;     // mean next-token cross-entropy
  Tensor mtp;    // lambda * mean over depths of the MTP cross-entropies (undefined when off)
  AuxLosses aux;  // summed over MoE layers (undefined terms when off)
};

// With a parallel layout (model/layout.h): the embedding and the head are
// vocab parallel, attention heads and dense FFNs tensor parallel with
// sequence parallelism in between, routed experts expert parallel. Every
// rank of a TP group gets the same ids/targets; loss() returns the same
// values on every TP rank (the local part of the aux losses: see
// balance_loss.h).
class Transformer : public Module {
 public:
  explicit Transformer(const config::ModelConfig& c, const Layout& layout = {});
  // ids [B, T] integer -> logits [B, T, V] (tensor parallel: this rank's
  // vocabulary columns [B, T, V/TP]).
  Tensor forward(const Tensor& ids, const BatchInfo& info = {});
  // ids, targets [B, T]: the training loss with its parts.
  LossParts loss(const Tensor& ids, const Tensor& targets, const BatchInfo& info = {});

  const config::ModelConfig& config() const { return cfg_; }
  std::vector<MoeLayer*> moe_layers();
  std::vector<Attention*> attentions();  // every block's, MTP blocks included
  void update_selection_biases();
  // Delayed FP8 scaling (model/fp8_gemms.h), after each optimizer step:
  // every amax history takes the step's amaxes, the max over the ranks that
  // share the weight. Collective under a mesh (a no-op without delayed
  // scaling).
  void update_fp8_scaling();
  // A step skipped without an update: drops what its forward and backward
  // recorded for the update (selection-bias loads, QK-Clip logit maxima,
  // delayed-FP8 amaxes), so the next step starts from none. Local.
  void discard_step_records();

 private:
  void fp8_states(std::vector<fp8::DelayedScaling*>& dense, std::vector<fp8::DelayedScaling*>& experts);
  Tensor hidden(const Tensor& ids, const BatchInfo& info, Tensor* emb_out);
  Tensor logits_of(const Tensor& h);
  Tensor cross_entropy_of(const Tensor& logits, const Tensor& targets);
  // model.matmul_precision, the scope of every forward (core/matmul_precision.h).
  MatmulPrecision matmul_precision_of_config() const;

  config::ModelConfig cfg_;
  Layout layout_;
  Tensor* embed_;
  std::vector<std::unique_ptr<Block>> layers_;
  RMSNorm final_norm_;
  Tensor* head_ = nullptr;  // [V, D]; null when tied to the embedding
  std::vector<std::unique_ptr<MtpModule>> mtp_;
  Tensor mtp_ids_, mtp_targets_;
};

}  // namespace moe::model
