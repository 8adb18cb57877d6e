#include "launch/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "comm/communicator.h"
#include "comm/nccl_communicator.h"
#include "core/cpu/gemm_bf16.h"
#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/threading.h"
#include "core/phase_timer.h"
#include "data/open_dataset.h"
#include "data/sampler.h"
#include "launch/checkpointing.h"
#include "launch/config.h"
#include "launch/hang_injection.h"
#include "launch/metrics.h"
#include "launch/param_update.h"
#include "launch/step_guard.h"
#include "launch/step_stats.h"
#include "model/dims.h"
#include "model/transformer.h"
#include "optim/qk_clip.h"
#include "optim/schedule.h"

namespace moe::launch {

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// This DP rank's sequences of a global batch: [first, first + count).
struct Shard {
  int64_t first = 0, count = 0;
};
Shard dp_shard(const parallel::Mesh& mesh, int64_t global_batch) {
  const int64_t n = global_batch / mesh.sizes().dp();
  return {mesh.dp_rank() * n, n};
}


data::Batch on_device(data::Batch b, Device d) {
  if (d.is_cpu()) return b;
  return {to_device(b.inputs, d), to_device(b.targets, d)};
}

// Micro-batches uploaded one ahead of use (Upload, core/ops.h): the one the
// loop asks for next is started while the previous one computes. A request
// for any other (the first of a run) is loaded there and then.
class BatchAhead {
 public:
  BatchAhead(const data::BatchSampler& sampler, int64_t global_batch, int64_t first, int64_t micro, Device d)
      : sampler_(sampler), global_(global_batch), first_(first), micro_(micro), dev_(d) {}
  void start(int64_t step, int64_t mb) {
    const data::Batch h = sampler_.get(step, global_, first_ + mb * micro_, micro_);
    inputs_ = Upload(h.inputs, dev_);
    targets_ = Upload(h.targets, dev_);
    step_ = step;
    mb_ = mb;
  }
  data::Batch take(int64_t step, int64_t mb) {
    if (step_ != step || mb_ != mb) start(step, mb);
    step_ = mb_ = -1;
    return {inputs_.take(), targets_.take()};
  }

 private:
  const data::BatchSampler& sampler_;
  int64_t global_, first_, micro_;
  Device dev_;
  Upload inputs_, targets_;
  int64_t step_ = -1, mb_ = -1;
};

// Mean lm loss over cfg.eval_batches() fixed global batches, each DP rank
// evaluating its shard; the same value on every rank.
double evaluate(model::Transformer& m, const data::BatchSampler& sampler, const config::TrainConfig& cfg,
                parallel::Mesh& mesh, int64_t micro, Device dev) {
  NoGradGuard no_grad;
  m.set_training(false);
  const Shard s = dp_shard(mesh, cfg.global_batch_size());
  double total = 0;
  int64_t n = 0;
  for (int64_t i = 0; i < cfg.eval_batches(); ++i) {
    for (int64_t first = s.first; first < s.first + s.count; first += micro) {
      const data::Batch b = on_device(sampler.eval(i, cfg.global_batch_size(), first, micro), dev);
      model::BatchInfo info;  // global identities, as in training (dropping ties, protected sequences)
      info.seed = cfg.seed();
      for (int64_t j = 0; j < micro; ++j) info.global_sequence.push_back(i * cfg.global_batch_size() + first + j);
      total += m.loss(b.inputs, b.targets, info).lm.item();
      ++n;
    }
  }
  m.set_training(true);
  // TP ranks hold the same value: the mean over the world is the DP mean.
  return comm::all_reduce_values(mesh.world(), std::vector<double>{total / double(n)}, comm::ReduceOp::avg)[0];
}

// One attention layer's QK-Clip with its heads' maxima (optim/qk_clip.h),
// on the weights and head layout the layer names.
void clip_attention(const model::Attention& a, const std::vector<double>& max_logits, double threshold) {
  model::QkClipWeights w = a.qk_clip_weights();
  if (w.mla)
    optim::qk_clip_mla(w.wq, w.wk, w.heads, {w.nope, w.rope, w.v}, max_logits, threshold);
  else
    optim::qk_clip(w.wq, w.wk, w.heads, w.head_dim_q, w.head_dim_k, max_logits, threshold);
}

// MuonClip: after the update, rescale the query/key weights of every head
// whose largest logit in this step exceeded the threshold. The maxima are
// taken over the DP replicas so that every replica clips alike (a TP rank
// holds its own heads).
void apply_qk_clip(model::Transformer& m, parallel::Mesh& mesh, double threshold) {
  for (model::Attention* a : m.attentions()) {
    if (a->max_logits().empty()) continue;
    clip_attention(*a, comm::all_reduce_values(mesh.dp(), a->max_logits(), comm::ReduceOp::max), threshold);
    a->reset_max_logits();
  }
}

// Test hook: MOE_INJECT_FAILURE="rank:step" makes that rank throw at the
// start of that step (the failure-propagation test uses it).
void maybe_inject_failure(const parallel::Mesh& mesh, int64_t step) {
  const char* spec = std::getenv("MOE_INJECT_FAILURE");
  if (!spec) return;
  int rank = -1;
  long long at = -1;
  if (std::sscanf(spec, "%d:%lld", &rank, &at) == 2 && rank == mesh.rank() && at == step)
    throw Error(absl::StrCat("injected failure (MOE_INJECT_FAILURE=", spec, ") at step ", step));
}

// Setup errors can differ between ranks: every rank learns whether any
// failed. The failing rank keeps its own error; the others get kAborted
// naming the lowest failing rank.
absl::Status agree_on_setup(parallel::Mesh& mesh, const absl::Status& mine) {
  if (mesh.world().size() == 1) return mine;
  std::vector<int64_t> failed(size_t(mesh.world().size()), 0);
  failed[size_t(mesh.rank())] = mine.ok() ? 0 : 1;
  failed = comm::all_reduce_values(mesh.world(), std::move(failed), comm::ReduceOp::sum);
  if (!mine.ok()) return mine;
  for (size_t r = 0; r < failed.size(); ++r)
    if (failed[r]) return absl::AbortedError(absl::StrCat("rank ", r, " failed during setup (see its error)"));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Device> rank_device(const config::TrainConfig& cfg) {
  if (cfg.device() != "cuda") return Device::cpu();
  const int n = cuda_device_count();
  if (n == 0)
    return absl::FailedPreconditionError(
        "device = cuda, but no CUDA device is usable (a build with MOE_CUDA=OFF, or no driver or GPU on this "
        "host)");
  int local = 0;
  for (const char* var : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "LOCAL_RANK"})
    if (const char* v = std::getenv(var)) {
      char* end = nullptr;
      const long r = std::strtol(v, &end, 10);
      if (end == v || *end != '\0' || r < 0)
        return absl::InvalidArgumentError(absl::StrCat(var, " = '", v, "' is not a local rank"));
      local = int(r);
      break;
    }
#if defined(MOE_CUDA_SIM)
  local %= n;  // each SIM process has its own device 0 in host memory: ranks on one host share nothing
#endif
  if (local >= n)
    return absl::FailedPreconditionError(
        absl::StrCat("device = cuda: local rank ", local, " but this host shows ", n, " CUDA device(s)"));
  return Device::cuda(local);
}

std::unique_ptr<comm::Communicator> run_world(std::unique_ptr<comm::Communicator> world, Device device) {
  if (device.is_cpu() || world->size() == 1) return world;
  return comm::nccl_communicator(std::move(world), device.index);
}

absl::StatusOr<TrainResult> train(const config::TrainConfig& cfg, const std::atomic<bool>* stop, bool quiet,
                                  parallel::Mesh* mesh_in, const std::function<void(int64_t)>& on_step) {
  std::unique_ptr<parallel::Mesh> own_mesh;
  if (!mesh_in) own_mesh = parallel::Mesh::single();
  parallel::Mesh& mesh = mesh_in ? *mesh_in : *own_mesh;
  const bool lead = mesh.rank() == 0;
  quiet = quiet || !lead;
  if (cfg.threads() > 0) set_num_threads(int(cfg.threads()));
  std::unique_ptr<data::TokenDataset> train_data, val_data;
  std::optional<data::BatchSampler> sampler, val_sampler;
  double qk_clip = 0;
  Device dev;
  // Everything that can fail on one rank only (a missing file on one node)
  // runs before the first collective, and the ranks agree on the outcome.
  absl::Status setup = [&]() -> absl::Status {
    // The field rules first, all at once (data.path among them): opening
    // reads the whole dataset, and must not hide them.
    if (absl::Status s = validate(cfg); !s.ok()) return s;
    absl::StatusOr<std::unique_ptr<data::TokenDataset>> td =
        data::open_token_dataset(cfg.data(), cfg.data().train_split());
    if (!td.ok()) return td.status();
    train_data = std::move(*td);
    absl::StatusOr<std::unique_ptr<data::TokenDataset>> vd =
        data::open_token_dataset(cfg.data(), cfg.data().val_split());
    if (!vd.ok()) return vd.status();
    val_data = std::move(*vd);
    const data::TokenDataset& top = val_data->max_token() > train_data->max_token() ? *val_data : *train_data;
    if (absl::Status s = validate(cfg, top.max_token(), data::token_location(top, top.max_token_offset())); !s.ok())
      return s;
    if (absl::Status s = validate_layout(cfg, mesh.world().size()); !s.ok()) return s;
    absl::StatusOr<Device> d = rank_device(cfg);
    if (!d.ok()) return d.status();
    dev = *d;
    if (mesh.sizes().tp != cfg.parallel().tp() || mesh.sizes().ep != cfg.parallel().ep())
      return absl::InvalidArgumentError(absl::StrCat("the mesh (tp ", mesh.sizes().tp, ", ep ", mesh.sizes().ep,
                                                     ") differs from parallel.tp / parallel.ep in the config"));
    qk_clip = cfg.optim().kind() == config::OPTIMIZER_MUON ? cfg.optim().muon().qk_clip_threshold() : 0.0;
    if (lead)
      if (absl::Status s = write_resolved_config(cfg, cfg.run_dir()); !s.ok()) return s;
    absl::StatusOr<data::BatchSampler> ts = data::BatchSampler::create(*train_data, cfg.seq_len(), cfg.data().seed());
    if (!ts.ok()) return ts.status();
    sampler.emplace(std::move(*ts));
    absl::StatusOr<data::BatchSampler> vs = data::BatchSampler::create(*val_data, cfg.seq_len(), cfg.data().seed());
    if (!vs.ok()) return vs.status();
    val_sampler.emplace(std::move(*vs));
    return absl::OkStatus();
  }();
  if (absl::Status s = agree_on_setup(mesh, setup); !s.ok()) return s;
  if (!quiet) std::printf("%s", config_to_text(cfg).c_str());

  model::Layout layout{&mesh};
  layout.overlap_dispatch = cfg.parallel().overlap_dispatch();
  model::Transformer m(cfg.model(), layout);
  if (!dev.is_cpu()) m.to_device(dev);  // before anything holds the parameters
  ParamUpdater updater(mesh, m.named_parameters(), cfg);
  if (qk_clip > 0)
    for (model::Attention* a : m.attentions()) a->set_record_max_logits(true);
  TrainCheckpoints checkpoints(cfg, mesh, m, updater);
  absl::StatusOr<ResumePoint> resumed = checkpoints.resume();
  if (!resumed.ok()) return resumed.status();
  if (resumed->finished) {  // before the metrics writer, which would rewrite metrics.jsonl
    TrainResult done;
    done.steps_done = resumed->step;
    done.already_finished = resumed->from;
    return done;
  }
  std::unique_ptr<MetricsWriter> metrics;
  if (lead)
    metrics = std::make_unique<MetricsWriter>(quiet ? std::string() : cfg.run_dir(),
                                              resumed->from.empty() ? -1 : resumed->step);
  if (!quiet && !resumed->from.empty())
    std::printf("resumed from %s: step %lld, %lld tokens seen\n", resumed->from.c_str(),
                static_cast<long long>(resumed->step), static_cast<long long>(resumed->tokens_seen));
  if (!quiet)
    std::printf("model: %lld parameters on rank 0 (world %d: dp %d x tp %d, ep %d), %s, %d threads; training %lld "
                "steps of %lld x %lld tokens\n",
                static_cast<long long>(m.num_parameters()), mesh.world().size(), mesh.sizes().dp(), mesh.sizes().tp,
                mesh.sizes().ep, dev.str().c_str(), num_threads(), static_cast<long long>(cfg.steps()),
                static_cast<long long>(cfg.global_batch_size()), static_cast<long long>(cfg.seq_len()));
  if (!quiet && cfg.model().matmul_precision() == config::MATMUL_BF16)
    std::printf("matmul precision bf16: %s\n", cpu::bf16_kernels_enabled()
                                                    ? "AVX-512 BF16 kernels"
                                                    : "AVX-512 BF16 kernels off (not on this CPU, or "
                                                      "MOE_BF16_KERNELS=0), so operands are rounded to bf16 and "
                                                      "multiplied on the f32 path (slower than fp32)");

  const int64_t G = cfg.global_batch_size();
  const Shard shard = dp_shard(mesh, G);
  const int64_t micro = cfg.micro_batch_size() > 0 ? cfg.micro_batch_size() : shard.count;
  const int64_t n_micro = shard.count / micro;
  const std::vector<model::MoeLayer*> moe_layers = m.moe_layers();
  TrainResult result;
  double train_time = 0;
  int64_t tokens_this_run = 0, tokens_seen = resumed->tokens_seen;
  double window_time = 0;
  int64_t window_tokens = 0;
  StepGuard guard(cfg.optim());
  const std::optional<NanInjection> inject_nan = nan_injection_from_env();
  bool save_postponed = false;
  int64_t last_spike = -1;

  BatchAhead ahead(*sampler, G, shard.first, micro, dev);
  const double run_start = now_s();
  for (int64_t step = resumed->step; step < cfg.steps(); ++step) {
    maybe_inject_failure(mesh, step);
    maybe_inject_hang(mesh.rank(), step);
    if (on_step) on_step(step);
    const double t0 = now_s();
    const double lr = optim::lr_at(cfg.optim().schedule(), cfg.optim().lr(), step, cfg.steps());
    updater.zero_grad();
    StepStats stats(moe_layers.size());
    const double inv = 1.0 / double(n_micro);
    for (int64_t mb = 0; mb < n_micro; ++mb) {
      const int64_t first = shard.first + mb * micro;
      const data::Batch b = ahead.take(step, mb);
      // The next micro-batch (or the next step's first) crosses to the
      // device while this one computes.
      if (mb + 1 < n_micro)
        ahead.start(step, mb + 1);
      else if (step + 1 < cfg.steps())
        ahead.start(step + 1, 0);
      model::BatchInfo info;
      info.seed = cfg.seed();
      for (int64_t i = 0; i < micro; ++i) info.global_sequence.push_back(step * G + first + i);
      model::LossParts loss = m.loss(b.inputs, b.targets, info);
      // MOE_INJECT_NAN (step_guard.h): NaN gradients or a NaN loss on one rank.
      const bool nan_here = mb == 0 && inject_nan && inject_nan->at(mesh.rank(), step);
      updater.begin_micro_batch(mb + 1 == n_micro);
      {
        prof::PhaseScope scope(prof::Phase::backward);
        mul(loss.total, nan_here && !inject_nan->loss ? std::nan("") : inv).backward();
      }
      if (nan_here && inject_nan->loss) {
        NoGradGuard no_grad;
        loss.lm = mul(loss.lm, std::nan(""));
      }
      stats.add_micro_batch(loss, moe_layers, inv);
    }
    // Gradients first: bucket all-reduces on the world may still be in
    // flight from backward, and the statistics use the world too.
    double grad_norm = 0;
    {
      prof::PhaseScope scope(prof::Phase::grad_sync);
      grad_norm = updater.finish_gradients(cfg.optim().grad_clip());
    }
    StepMetrics sm = stats.reduce(mesh);
    sm.step = step;
    sm.lr = lr;
    sm.grad_norm = grad_norm;
    const bool skip = guard.skip(mesh.world(), sm.lm_loss, grad_norm);
    sm.skipped = guard.skipped();
    sm.step_skipped = skip;
    std::optional<StepGuard::Spike> spike;
    if (skip) {
      // No update of any kind: the state stays the last updated step's.
      updater.zero_grad();
      m.discard_step_records();
      result.skipped_steps.push_back(step);
    } else {
      prof::PhaseScope scope(prof::Phase::optimizer);
      updater.step(lr);
      if (qk_clip > 0) apply_qk_clip(m, mesh, qk_clip);
      // Every rank updates its replicated biases from the global load.
      for (model::MoeLayer* l : moe_layers)
        l->pending_load() = parallel::all_reduce_load_counts(mesh, std::move(l->pending_load()));
      m.update_selection_biases();
      m.update_fp8_scaling();  // delayed FP8 scaling: the step's amaxes into the histories
      spike = guard.spike(sm.lm_loss);
    }

    const double dt = now_s() - t0;
    const int64_t toks = G * cfg.seq_len();
    train_time += dt;
    tokens_this_run += toks;
    tokens_seen += toks;
    window_time += dt;
    window_tokens += toks;
    result.steps_done = step + 1;
    result.last_train_loss = sm.lm_loss;
    result.train_losses.push_back(sm.lm_loss);
    // Stop together: a signal may reach the ranks at different steps, and
    // the final evaluation is collective.
    const bool stopping = stop && comm::all_reduce_values(mesh.world(), std::vector<int64_t>{stop->load() ? 1 : 0},
                                                          comm::ReduceOp::max)[0] > 0;
    const bool last = step + 1 == cfg.steps() || stopping;
    if (skip || (cfg.log_every() > 0 && (step % cfg.log_every() == 0 || last))) {
      sm.tokens_per_s = double(window_tokens) / window_time;
      sm.elapsed_s = now_s() - run_start;
      sm.eta_s = sm.elapsed_s / double(step + 1 - resumed->step) * double(cfg.steps() - step - 1);
      window_time = 0;
      window_tokens = 0;
      if (!quiet) metrics->step(sm);
    }
    if (spike) {
      result.loss_spikes.push_back(step);
      last_spike = step;
      if (!quiet)
        metrics->event(step, "loss_spike",
                       absl::StrFormat("loss spike at step %d: loss %.4f is %.2f x the mean %.4f of the previous %d "
                                       "updated steps (optim.loss_spike_factor = %g)",
                                       step, sm.lm_loss, sm.lm_loss / spike->mean, spike->mean, spike->over,
                                       cfg.optim().loss_spike_factor()),
                       {{"lm_loss", sm.lm_loss}, {"mean_loss", spike->mean}});
    }
    // Diverged: every rank stops here, before any save, so no checkpoint
    // holds what follows a run of non-finite steps (nor a copy of the last
    // good state that would push older checkpoints out).
    if (skip && guard.exhausted()) {
      const std::string why = absl::StrFormat(
          "diverged at step %d: loss %g, gradient norm %g; %d steps in a row had a non-finite loss or gradient "
          "norm and were skipped (optim.max_skipped_steps = %d; %d skipped in this run). Stopped without saving%s: "
          "resume from an earlier checkpoint, e.g. with a lower optim.lr",
          step, sm.lm_loss, grad_norm, guard.consecutive(), cfg.optim().max_skipped_steps(), guard.skipped(),
          last_spike >= 0 ? absl::StrFormat("; the last loss spike was at step %d", last_spike) : std::string());
      if (!quiet)
        metrics->event(step, "diverged",
                       absl::StrFormat("step %d: diverged (%d steps in a row skipped), stopping without a checkpoint",
                                       step, guard.consecutive()),
                       {{"lm_loss", sm.lm_loss},
                        {"grad_norm", grad_norm},
                        {"consecutive_skipped", double(guard.consecutive())},
                        {"skipped", double(guard.skipped())}});
      return absl::InternalError(why);
    }
    // At the end (or when stopped: a preemption saves before exiting, and
    // before the final evaluation, which a grace period may not cover), and
    // as often as checkpoint.every_steps / every_minutes say. A periodic
    // save due on a skipped step waits for the next updated one: the state
    // is still the last updated step's, and saving it again at every skip
    // would only push older checkpoints out (keep_last).
    if (cfg.checkpoint().save()) {
      if (!last && checkpoints.due(step + 1)) save_postponed = true;
      if (last || (save_postponed && !skip)) {
        if (absl::Status s = checkpoints.save(step + 1, tokens_seen, quiet, /*final=*/last); !s.ok())
          return s;
        save_postponed = false;
      }
    }
    if (cfg.eval_every() > 0 && ((step + 1) % cfg.eval_every() == 0 || last)) {
      result.last_val_loss = evaluate(m, *val_sampler, cfg, mesh, micro, dev);
      if (!quiet) metrics->eval(step + 1, result.last_val_loss, sm.lm_loss);
    }
    if (stopping) {
      result.interrupted = true;
      break;
    }
  }
  result.tokens_per_s = train_time > 0 ? double(tokens_this_run) / train_time : 0;
  return result;
}

}  // namespace moe::launch
