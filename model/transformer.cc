#include "model/transformer.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "comm/collectives.h"
#include "comm/communicator.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/phase_timer.h"
#include "model/dims.h"
#include "parallel/tensor_parallel.h"
#include "model/dropout.h"

namespace moe::model {

namespace {
// GPT-2 style: projections into the residual stream start smaller with depth.
double out_std(const config::ModelConfig& c) { return c.init_std() / std::sqrt(2.0 * double(c.n_layers())); }
}  // namespace

Block::Block(const config::ModelConfig& c, int64_t layer, double ostd, const Layout& layout)
    : layer_(layer),
      dropout_(c.dropout()),
      layout_(layout),
      attn_norm_(c.d_model(), c.norm_eps()),
      ffn_norm_(c.d_model(), c.norm_eps()),
      attn_(make_attention(c, ostd, layout)) {
  child("attn_norm", &attn_norm_);
  child("attn", attn_.get());
  child("ffn_norm", &ffn_norm_);
  // Every Linear of attention is a projection (norms are not Linears).
  use_fp8(*attn_, fp8_recipe(c, Fp8Gemms::attention_proj), c.fp8().amax_history_len());
  if (is_moe_layer(c, layer)) {
    moe_ = std::make_unique<MoeLayer>(c, ostd, layout);
    child("ffn", moe_.get());
  } else {
    dense_ = std::make_unique<SwiGLU>(c.d_model(), c.ffn_dim(), c.init_std(), ostd, layout);
    child("ffn", dense_.get());
    use_fp8(*dense_, fp8_recipe(c, Fp8Gemms::dense_mlp), c.fp8().amax_history_len());
  }
}

Tensor Block::to_tp(const Tensor& x) const {
  return layout_.sequence_parallel() ? comm::all_gather_autograd(layout_.mesh->tp(), x, 1) : x;
}
Tensor Block::from_tp(const Tensor& x) const {
  return layout_.sequence_parallel() ? comm::reduce_scatter_autograd(layout_.mesh->tp(), x, 1) : x;
}

Tensor Block::forward(const Tensor& x, const BatchInfo& info) {
  const double p = training() ? dropout_ : 0.0;
  const uint64_t site = 2 * uint64_t(layer_) + 1;
  Tensor attn;
  {
    prof::PhaseScope scope(prof::Phase::attention);
    attn = from_tp(attn_->forward(to_tp(attn_norm_.forward(x))));
  }
  const Tensor h = add(x, sequence_dropout(attn, p, info, site));
  const Tensor n = ffn_norm_.forward(h);
  Tensor ffn;
  if (moe_) {
    ffn = moe_->forward(n, info);
  } else {
    prof::PhaseScope scope(prof::Phase::dense_ffn);
    ffn = from_tp(dense_->forward(to_tp(n)));
  }
  return add(h, sequence_dropout(ffn, p, info, site + 1));
}

MtpModule::MtpModule(const config::ModelConfig& c, int64_t layer, double ostd, const Layout& layout)
    : hnorm_(c.d_model(), c.norm_eps()),
      enorm_(c.d_model(), c.norm_eps()),
      proj_(2 * c.d_model(), c.d_model(), c.init_std()),
      block_(c, layer, ostd, layout) {
  child("hnorm", &hnorm_);
  child("enorm", &enorm_);
  child("proj", &proj_);
  child("block", &block_);
}

Tensor MtpModule::forward(const Tensor& h, const Tensor& emb_next, const BatchInfo& info) {
  return block_.forward(proj_.forward(cat({hnorm_.forward(h), enorm_.forward(emb_next)}, 2)), info);
}

Transformer::Transformer(const config::ModelConfig& c, const Layout& layout)
    : cfg_(c), layout_(layout), final_norm_(c.d_model(), c.norm_eps()) {
  const double ostd = out_std(c);
  MOE_CHECK(!(layout.tp() > 1 && c.has_mtp() && c.mtp().depth() > 0),
            "multi-token prediction (model.mtp) is not supported with tensor parallelism (parallel.tp > 1)");
  embed_ = &parameter("embed.weight", {c.vocab_size(), c.d_model()}, Init::normal, c.init_std(), layout.tp_split(0));
  for (int64_t l = 0; l < c.n_layers(); ++l) {
    layers_.push_back(std::make_unique<Block>(c, l, ostd, layout));
    child("layers." + std::to_string(l), layers_.back().get());
  }
  child("final_norm", &final_norm_);
  if (!c.tie_embeddings())
    head_ = &parameter("head.weight", {c.vocab_size(), c.d_model()}, Init::normal, c.init_std(), layout.tp_split(0));
  const int64_t depth = c.has_mtp() ? c.mtp().depth() : 0;
  for (int64_t k = 0; k < depth; ++k) {
    // Layer index n_layers + k: its own dropout sites, the FFN kind of a late layer.
    mtp_.push_back(std::make_unique<MtpModule>(c, c.n_layers() + k, ostd, layout));
    child("mtp." + std::to_string(k), mtp_.back().get());
  }
  init_parameters(c.init_seed());
}

MatmulPrecision Transformer::matmul_precision_of_config() const {
  return cfg_.matmul_precision() == config::MATMUL_BF16 ? MatmulPrecision::bf16 : MatmulPrecision::fp32;
}

Tensor Transformer::hidden(const Tensor& ids, const BatchInfo& batch, Tensor* emb_out) {
  const MatmulPrecisionScope precision(matmul_precision_of_config());
  BatchInfo info = batch;
  if (layout_.sequence_parallel()) {
    info.seq_len = ids.size(1);
    info.position_offset = layout_.tp_rank() * (ids.size(1) / layout_.tp());
  }
  Tensor x = [&] {
    prof::PhaseScope scope(prof::Phase::embed_head);
    if (!layout_.sequence_parallel()) return embedding(*embed_, ids);
    // Vocab-parallel lookup, summed over TP straight into the
    // sequence-parallel layout.
    const Tensor part = parallel::vocab_parallel_embedding(*embed_, ids, layout_.tp_rank() * embed_->size(0));
    return comm::reduce_scatter_autograd(layout_.mesh->tp(), part, 1);
  }();
  if (emb_out) *emb_out = x;
  x = sequence_dropout(x, training() ? cfg_.dropout() : 0.0, info, 0);
  for (auto& b : layers_) x = b->forward(x, info);
  return x;
}

Tensor Transformer::logits_of(const Tensor& h) {
  const MatmulPrecisionScope precision(matmul_precision_of_config());
  prof::PhaseScope scope(prof::Phase::embed_head);
  Tensor n = final_norm_.forward(h);
  if (layout_.sequence_parallel()) n = comm::all_gather_autograd(layout_.mesh->tp(), n, 1);
  return matmul(n, transpose(head_ ? *head_ : *embed_, 0, 1));
}

Tensor Transformer::cross_entropy_of(const Tensor& logits, const Tensor& targets) {
  prof::PhaseScope scope(prof::Phase::embed_head);
  const int64_t V = logits.size(-1);
  if (layout_.tp() > 1)
    return parallel::vocab_parallel_cross_entropy(layout_.mesh->tp(), reshape(logits, {-1, V}), reshape(targets, {-1}),
                                                  layout_.tp_rank() * V);
  return cross_entropy(reshape(logits, {-1, V}), reshape(targets, {-1}));
}

Tensor Transformer::forward(const Tensor& ids, const BatchInfo& info) { return logits_of(hidden(ids, info, nullptr)); }

LossParts Transformer::loss(const Tensor& ids, const Tensor& targets, const BatchInfo& info) {
  const MatmulPrecisionScope precision(matmul_precision_of_config());  // MTP blocks too
  LossParts p;
  Tensor emb;
  const Tensor h = hidden(ids, info, &emb);
  const int64_t T = ids.size(1);
  auto ce = [this](const Tensor& logits, const Tensor& tgt) { return cross_entropy_of(logits, tgt); };
  p.lm = ce(logits_of(h), targets);
  p.total = p.lm;
  // MTP depth k predicts token i+k+1 from position i: its inputs are the
  // previous depth's hidden states at positions [0, T-k) and the embedding of
  // token i+k (= the target of depth k-1), i.e. emb positions [k, T).
  Tensor prev = h, mtp_sum;
  for (size_t k = 1; k <= mtp_.size(); ++k) {
    const int64_t len = T - int64_t(k);
    if (len <= 0) break;
    prev = mtp_[k - 1]->forward(narrow(prev, 1, 0, len), narrow(emb, 1, int64_t(k), len), info);
    const Tensor l = ce(logits_of(prev), narrow(targets, 1, int64_t(k), len));
    mtp_sum = mtp_sum.defined() ? add(mtp_sum, l) : l;
  }
  if (mtp_sum.defined()) {
    p.mtp = mul(mtp_sum, cfg_.mtp().weight() / double(mtp_.size()));
    p.total = add(p.total, p.mtp);
  }
  auto accumulate = [](Tensor& into, const Tensor& x) {
    if (x.defined()) into = into.defined() ? add(into, x) : x;
  };
  for (MoeLayer* m : moe_layers()) {
    const AuxLosses& a = m->aux();
    accumulate(p.aux.expert, a.expert);
    accumulate(p.aux.device, a.device);
    accumulate(p.aux.comm, a.comm);
    accumulate(p.aux.sequence, a.sequence);
    accumulate(p.aux.z, a.z);
  }
  accumulate(p.total, p.aux.total());
  return p;
}

std::vector<MoeLayer*> Transformer::moe_layers() {
  std::vector<MoeLayer*> out;
  for (auto& b : layers_)
    if (b->moe()) out.push_back(b->moe());
  for (auto& m : mtp_)
    if (m->block().moe()) out.push_back(m->block().moe());
  return out;
}

std::vector<Attention*> Transformer::attentions() {
  std::vector<Attention*> out;
  for (auto& b : layers_) out.push_back(&b->attention());
  for (auto& m : mtp_) out.push_back(&m->block().attention());
  return out;
}

void Transformer::update_selection_biases() {
  for (MoeLayer* m : moe_layers()) m->update_selection_bias();
}

void Transformer::fp8_states(std::vector<fp8::DelayedScaling*>& dense, std::vector<fp8::DelayedScaling*>& experts) {
  for (Module* m : submodules()) {
    if (auto* l = dynamic_cast<Linear*>(m); l && l->fp8_state()) dense.push_back(l->fp8_state());
    if (auto* moe = dynamic_cast<MoeLayer*>(m))
      for (fp8::DelayedScaling* s : moe->expert_fp8_states()) experts.push_back(s);
  }
}

void Transformer::discard_step_records() {
  for (MoeLayer* m : moe_layers()) std::fill(m->pending_load().begin(), m->pending_load().end(), 0.0);
  for (Attention* a : attentions()) a->reset_max_logits();
  std::vector<fp8::DelayedScaling*> dense, experts;
  fp8_states(dense, experts);
  for (fp8::DelayedScaling* s : dense) std::fill(s->pending().begin(), s->pending().end(), 0.0);
  for (fp8::DelayedScaling* s : experts) std::fill(s->pending().begin(), s->pending().end(), 0.0);
}

void Transformer::update_fp8_scaling() {
  // Dense weights' states are shared by every rank (their tokens are the DP
  // replicas'; per-tensor recipes are refused with TP > 1); an expert's by
  // its EDP replicas. Each group's pending maxima go in one all-reduce.
  std::vector<fp8::DelayedScaling*> dense, experts;
  fp8_states(dense, experts);
  auto reduce = [](comm::Communicator* group, const std::vector<fp8::DelayedScaling*>& states) {
    if (states.empty()) return;
    if (group && group->size() > 1) {
      std::vector<double> all;
      for (fp8::DelayedScaling* s : states) all.insert(all.end(), s->pending().begin(), s->pending().end());
      all = comm::all_reduce_values(*group, std::move(all), comm::ReduceOp::max);
      size_t off = 0;
      for (fp8::DelayedScaling* s : states) {
        std::copy(all.begin() + long(off), all.begin() + long(off + s->pending().size()), s->pending().begin());
        off += s->pending().size();
      }
    }
    for (fp8::DelayedScaling* s : states) s->update();
  };
  reduce(layout_.mesh ? &layout_.mesh->world() : nullptr, dense);
  reduce(layout_.mesh ? &layout_.mesh->edp() : nullptr, experts);
}

}  // namespace moe::model
