#include "launch/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "core/autograd.h"
#include "core/ops.h"
#include "core/parallel.h"
#include "data/open_dataset.h"
#include "data/sampler.h"
#include "launch/config.h"
#include "launch/metrics.h"
#include "model/dims.h"
#include "model/transformer.h"
#include "optim/clip.h"
#include "optim/optimizer.h"
#include "optim/qk_clip.h"
#include "optim/schedule.h"

namespace moe::launch {

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Mean lm loss over cfg.eval_batches() fixed batches of `sampler`.
double evaluate(model::Transformer& m, const data::BatchSampler& sampler, const config::TrainConfig& cfg,
                int64_t micro) {
  NoGradGuard no_grad;
  m.set_training(false);
  double total = 0;
  int64_t n = 0;
  for (int64_t i = 0; i < cfg.eval_batches(); ++i) {
    for (int64_t first = 0; first < cfg.global_batch_size(); first += micro) {
      const data::Batch b = sampler.eval(i, cfg.global_batch_size(), first, micro);
      total += m.loss(b.inputs, b.targets).lm.item();
      ++n;
    }
  }
  m.set_training(true);
  return total / double(n);
}

void add_aux(std::vector<std::pair<std::string, double>>& out, const char* name, const Tensor& t, double scale) {
  if (t.defined()) {
    for (auto& [n, v] : out) {
      if (n == name) {
        v += t.item() * scale;
        return;
      }
    }
    out.emplace_back(name, t.item() * scale);
  }
}

// MuonClip: after the update, rescale W_q / W_k of every head whose largest
// logit in this step exceeded the threshold (optim/qk_clip.h).
void apply_qk_clip(model::Transformer& m, double threshold) {
  for (model::Attention* a : m.attentions()) {
    auto* g = dynamic_cast<model::GqaAttention*>(a);
    if (!g || a->max_logits().empty()) continue;
    Tensor wq = g->wq().weight(), wk = g->wk().weight();
    optim::qk_clip(wq, wk, g->heads(), g->head_dim(), g->head_dim(), a->max_logits(), threshold);
    a->reset_max_logits();
  }
}

}  // namespace

absl::StatusOr<TrainResult> train(const config::TrainConfig& cfg, const std::atomic<bool>* stop, bool quiet) {
  if (cfg.threads() > 0) set_num_threads(int(cfg.threads()));
  absl::StatusOr<std::unique_ptr<data::TokenDataset>> train_data =
      data::open_token_dataset(cfg.data(), cfg.data().train_split());
  if (!train_data.ok()) return train_data.status();
  absl::StatusOr<std::unique_ptr<data::TokenDataset>> val_data =
      data::open_token_dataset(cfg.data(), cfg.data().val_split());
  if (!val_data.ok()) return val_data.status();
  const int64_t max_token = std::max((*train_data)->max_token(), (*val_data)->max_token());
  if (absl::Status s = validate(cfg, max_token); !s.ok()) return s;
  const double qk_clip = cfg.optim().kind() == config::OPTIMIZER_MUON ? cfg.optim().muon().qk_clip_threshold() : 0.0;
  if (qk_clip > 0 && cfg.model().attention() != config::ATTENTION_GQA)
    return absl::UnimplementedError("optim.muon.qk_clip_threshold > 0: QK-Clip is implemented for GQA/MHA "
                                    "attention only, not model.attention = ATTENTION_MLA");

  if (!quiet) std::printf("%s", config_to_text(cfg).c_str());
  if (absl::Status s = write_resolved_config(cfg, cfg.run_dir()); !s.ok()) return s;

  absl::StatusOr<data::BatchSampler> sampler =
      data::BatchSampler::create(**train_data, cfg.seq_len(), cfg.data().seed());
  if (!sampler.ok()) return sampler.status();
  absl::StatusOr<data::BatchSampler> val_sampler =
      data::BatchSampler::create(**val_data, cfg.seq_len(), cfg.data().seed());
  if (!val_sampler.ok()) return val_sampler.status();

  model::Transformer m(cfg.model());
  std::vector<optim::NamedParam> params;
  std::vector<Tensor> param_tensors;
  for (const model::Named& p : m.named_parameters()) {
    params.push_back({p.name, p.tensor});
    param_tensors.push_back(p.tensor);
  }
  std::unique_ptr<optim::Optimizer> opt = optim::make_optimizer(cfg.optim(), params);
  if (qk_clip > 0)
    for (model::Attention* a : m.attentions()) a->set_record_max_logits(true);
  MetricsWriter metrics(cfg.run_dir());
  if (!quiet)
    std::printf("model: %lld parameters, %d threads; training %lld steps of %lld x %lld tokens\n",
                static_cast<long long>(m.num_parameters()), num_threads(), static_cast<long long>(cfg.steps()),
                static_cast<long long>(cfg.global_batch_size()), static_cast<long long>(cfg.seq_len()));

  const int64_t G = cfg.global_batch_size();
  const int64_t micro = cfg.micro_batch_size() > 0 ? cfg.micro_batch_size() : G;
  const int64_t n_micro = G / micro;
  const std::vector<model::MoeLayer*> moe_layers = m.moe_layers();
  TrainResult result;
  double train_time = 0;
  int64_t tokens_seen = 0;
  double window_time = 0;
  int64_t window_tokens = 0;

  for (int64_t step = 0; step < cfg.steps(); ++step) {
    const double t0 = now_s();
    const double lr = optim::lr_at(cfg.optim().schedule(), cfg.optim().lr(), step, cfg.steps());
    opt->zero_grad();
    StepMetrics sm;
    sm.step = step;
    sm.lr = lr;
    // Kept assignments per expert of each MoE layer, summed over micro-batches.
    std::vector<std::vector<int64_t>> load(moe_layers.size());
    int64_t assignments = 0, dropped = 0;
    const double inv = 1.0 / double(n_micro);
    for (int64_t mb = 0; mb < n_micro; ++mb) {
      const data::Batch b = sampler->get(step, G, mb * micro, micro);
      model::BatchInfo info;
      info.seed = cfg.seed();
      for (int64_t i = 0; i < micro; ++i) info.global_sequence.push_back(step * G + mb * micro + i);
      const model::LossParts loss = m.loss(b.inputs, b.targets, info);
      mul(loss.total, inv).backward();
      sm.lm_loss += loss.lm.item() * inv;
      if (loss.mtp.defined()) sm.mtp_loss = std::max(sm.mtp_loss, 0.0) + loss.mtp.item() * inv;
      add_aux(sm.aux, "aux_expert", loss.aux.expert, inv);
      add_aux(sm.aux, "aux_device", loss.aux.device, inv);
      add_aux(sm.aux, "aux_comm", loss.aux.comm, inv);
      add_aux(sm.aux, "aux_seq", loss.aux.sequence, inv);
      add_aux(sm.aux, "z_loss", loss.aux.z, inv);
      for (size_t li = 0; li < moe_layers.size(); ++li) {
        const model::MoeStats& st = moe_layers[li]->stats();
        if (load[li].empty()) load[li].assign(st.expert_load.size(), 0);
        for (size_t e = 0; e < st.expert_load.size(); ++e) load[li][e] += st.expert_load[e];
        assignments += st.assignments;
        dropped += st.dropped;
      }
    }
    if (!std::isfinite(sm.lm_loss))
      return absl::InternalError(absl::StrCat("loss is ", sm.lm_loss, " at step ", step, " (diverged)"));
    sm.grad_norm = cfg.optim().grad_clip() > 0 ? optim::clip_grad_norm(param_tensors, cfg.optim().grad_clip())
                                               : std::sqrt(optim::grad_sq_norm(param_tensors));
    opt->step(lr);
    if (qk_clip > 0) apply_qk_clip(m, qk_clip);
    m.update_selection_biases();

    const double dt = now_s() - t0;
    const int64_t toks = G * cfg.seq_len();
    train_time += dt;
    tokens_seen += toks;
    window_time += dt;
    window_tokens += toks;
    if (!moe_layers.empty()) {
      sm.moe = true;
      // The step's worst layer: its busiest expert's load over its mean load.
      for (const std::vector<int64_t>& l : load) {
        const double mean = double(std::accumulate(l.begin(), l.end(), int64_t(0))) / double(l.size());
        if (mean > 0) sm.max_load = std::max(sm.max_load, double(*std::max_element(l.begin(), l.end())) / mean);
      }
      sm.dropped_pct = assignments > 0 ? 100.0 * double(dropped) / double(assignments) : 0;
    }
    result.steps_done = step + 1;
    result.last_train_loss = sm.lm_loss;
    const bool last = step + 1 == cfg.steps() || (stop && stop->load());
    if (cfg.log_every() > 0 && (step % cfg.log_every() == 0 || last)) {
      sm.tokens_per_s = double(window_tokens) / window_time;
      window_time = 0;
      window_tokens = 0;
      if (!quiet) metrics.step(sm);
    }
    if (cfg.eval_every() > 0 && ((step + 1) % cfg.eval_every() == 0 || last)) {
      result.last_val_loss = evaluate(m, *val_sampler, cfg, micro);
      if (!quiet) metrics.eval(step + 1, result.last_val_loss, sm.lm_loss);
    }
    if (stop && stop->load()) {
      result.interrupted = true;
      break;
    }
  }
  result.tokens_per_s = train_time > 0 ? double(tokens_seen) / train_time : 0;
  return result;
}

}  // namespace moe::launch
