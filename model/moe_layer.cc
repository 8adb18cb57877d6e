#include "model/moe_layer.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <utility>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/phase_timer.h"
#include "model/ep_dispatcher.h"

namespace moe::model {

Routing route(const config::MoeConfig& c, const Tensor& x2d, const Tensor& router_w, const Tensor& bias) {
  Routing r;
  // The router runs in f32 at least, whatever the compute dtype (f64 in
  // gradient checks) or the model's matmul precision.
  const MatmulPrecisionScope f32_router(MatmulPrecision::fp32);
  const DType rt = x2d.dtype() == DType::f64 ? DType::f64 : DType::f32;
  r.logits = matmul(cast(x2d, rt), transpose(cast(router_w, rt), 0, 1));
  r.scores = c.score_function() == config::SCORE_SIGMOID ? sigmoid(r.logits) : softmax(r.logits, -1);
  const int64_t N = r.scores.size(0), K = c.top_k();
  // Selection on the scores' device; the dispatch plan is host code, so the
  // selections (N x K, not the N x E scores) come over, and their affinities
  // only for a dropping rule (each copy waits for the device).
  const TopkRoute sel =
      route_topk(r.scores, c.selection_bias() ? bias : Tensor(), route_spec(selection_spec(c)));
  r.selected = sel.experts;
  const Tensor experts = host_copy(sel.experts);
  r.experts.assign(experts.data<int32_t>(), experts.data<int32_t>() + N * K);
  if (c.drop_policy() != config::DROP_NONE) {
    const Tensor affinity = host_copy(sel.affinity);
    r.affinity.assign(affinity.data<float>(), affinity.data<float>() + N * K);
  }
  Tensor gates = gather(r.scores, 1, cast(sel.experts, DType::i64));
  if (c.normalize_top_k()) gates = div(gates, sum(gates, {1}, true));
  if (c.routed_scaling_factor() != 1.0) gates = mul(gates, c.routed_scaling_factor());
  r.gates = gates;
  return r;
}

MoeLayer::MoeLayer(const config::ModelConfig& c, double out_std, const Layout& layout)
    : cfg_(c.moe()), layout_(layout), spec_(selection_spec(c.moe())), dim_(c.d_model()) {
  const int64_t E = cfg_.num_routed_experts(), D = c.d_model(), F = cfg_.expert_ffn_dim();
  const bool fp8_dispatch = c.fp8().dispatch();
  if (layout.ep() > 1)
    dispatcher_ = std::make_unique<EpDispatcher>(layout.mesh->ep(), E, fp8_dispatch, layout.overlap_dispatch);
  else
    dispatcher_ = std::make_unique<LocalDispatcher>(fp8_dispatch);
  router_w_ = &parameter("router.weight", {E, D}, Init::normal, c.init_std());
  bias_ = &buffer("router.selection_bias", zeros({E}));
  const parallel::ShardSpec experts = layout.expert_split(0);
  w1_ = &parameter("experts.w1", {E, D, F}, Init::normal, c.init_std(), experts);
  w3_ = &parameter("experts.w3", {E, D, F}, Init::normal, c.init_std(), experts);
  w2_ = &parameter("experts.w2", {E, F, D}, Init::normal, out_std, experts);
  if (cfg_.num_shared_experts() > 0) {
    shared_ = std::make_unique<SwiGLU>(D, cfg_.num_shared_experts() * F, c.init_std(), out_std);
    child("shared", shared_.get());
  }
  // FP8 experts: each local expert its own scales (and delayed-scaling group).
  if (const std::optional<fp8::GemmRecipe> r = fp8_recipe(c, Fp8Gemms::experts)) {
    const int64_t local = w1_->size(0), hist = c.fp8().amax_history_len();
    const std::pair<const char*, Fp8Gemm*> gemms[] = {{"w1", &fp8_w1_}, {"w3", &fp8_w3_}, {"w2", &fp8_w2_}};
    for (const auto& [name, g] : gemms) {
      *g = Fp8Gemm(*r, local, hist);
      if (g->state())
        buffer(std::string("experts.") + name + ".fp8_amax_history", g->state()->history(), experts);
    }
    if (shared_) use_fp8(*shared_, r, hist);
  }
  pending_load_.assign(size_t(E), 0.0);
}

DispatchPlan MoeLayer::plan(const Routing& r, const BatchInfo& info, int64_t B, int64_t T) const {
  const int64_t N = B * T, K = cfg_.top_k(), E = cfg_.num_routed_experts();
  const int64_t T_full = info.seq_len > 0 ? info.seq_len : T;
  // Global token identity (for tie-breaks) and protected sequences.
  std::vector<int64_t> key(static_cast<size_t>(N));
  std::vector<uint8_t> protect(static_cast<size_t>(N), 0);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t g = info.global_sequence.empty() ? b : info.global_sequence[size_t(b)];
    const bool prot = cfg_.drop_policy() == config::DROP_DEVICE_BUDGET &&
                      protected_sequence(info.seed, g, cfg_.protected_sequence_fraction());
    for (int64_t t = 0; t < T; ++t) {
      key[size_t(b * T + t)] = g * T_full + info.position_offset + t;
      protect[size_t(b * T + t)] = prot;
    }
  }
  PlanInputs pin{N, K, E, spec_.groups, r.experts.data(), r.affinity.data(), key.data(), protect.data()};
  if (!layout_.mesh) return plan_dispatch(cfg_, pin);
  // Who decides together: per-expert capacity covers the DP replica's
  // micro-batch (spread over the TP group by sequence parallelism); the
  // per-device budget covers the EP group's tokens, widened to whole TP
  // groups (the tp_ep block). One rank deciding for the same tokens agrees.
  comm::Communicator& group =
      cfg_.drop_policy() == config::DROP_DEVICE_BUDGET ? layout_.mesh->tp_ep() : layout_.mesh->tp();
  return plan_dispatch_over_group(cfg_, pin, group);
}

AuxLosses MoeLayer::balance(const Routing& r, const DispatchPlan& p, const BatchInfo& info, int64_t B,
                            int64_t T) const {
  BalanceInputs bin{r.logits, r.scores, &r.experts, &p.keep, B, T, cfg_.top_k(), spec_.groups, spec_.top_groups};
  if (layout_.mesh) {
    // Sequence scope: the other tokens of a sequence are on the TP group;
    // micro-batch scope: the global micro-batch is spread over every rank.
    const bool per_seq = cfg_.balance_scope() == config::BALANCE_PER_SEQUENCE;
    bin.row_group = per_seq ? &layout_.mesh->tp() : &layout_.mesh->world();
    bin.row_tokens = per_seq ? (info.seq_len > 0 ? info.seq_len : T) : B * T * layout_.mesh->world().size();
    bin.rank_scale = per_seq ? 1.0 : double(layout_.dp());
    bin.z_share = 1.0 / double(layout_.tp());
  }
  return aux_losses(cfg_, bin);
}

Tensor MoeLayer::forward(const Tensor& x, const BatchInfo& info) {
  const int64_t B = x.size(0), T = x.size(1), N = B * T, K = cfg_.top_k();
  const Tensor u = view(x, {N, dim_});
  Routing r;
  DispatchPlan p;
  {
    prof::PhaseScope scope(prof::Phase::router);
    r = route(cfg_, u, *router_w_, *bias_);
    p = plan(r, info, B, T);
    aux_ = balance(r, p, info, B, T);
    // The travel order sorted where the selections are; only the keep flags
    // (one byte per assignment) cross, and only when some dropped.
    Tensor keep;
    if (p.dropped > 0) {
      keep = empty({N * K}, DType::b8);
      std::copy(p.keep.begin(), p.keep.end(), keep.data<bool>());
      keep = moe::to_device(keep, x.device());
    }
    const ExpertOrder order = expert_order(reshape(r.selected, {N * K}), keep, cfg_.num_routed_experts(), K,
                                           int64_t(p.assignments.size()));
    p.assignment_index = order.assignments;
    p.token_index = order.tokens;
  }

  // Experts: SwiGLU over each local expert's contiguous rows. With
  // overlapped exchanges (EP), the shared experts' two halves run while the
  // rows travel: the up-projection during dispatch, the down-projection
  // during combine.
  const bool overlap = layout_.ep() > 1 && layout_.overlap_dispatch && shared_;
  Dispatched d = dispatcher_->dispatch(u, p);
  Tensor expert_out, shared_h, shared_out;
  if (overlap) {
    prof::PhaseScope scope(prof::Phase::experts);
    shared_h = shared_->hidden(u);
  }
  dispatcher_->finish_dispatch(d);
  {
    prof::PhaseScope scope(prof::Phase::experts);
    // FP8 dispatch: w1 and w3 multiply the arrived codes (tile-wise recipe).
    const Fp8Rows* codes = d.codes.defined() ? &d.codes : nullptr;
    const Tensor h = swiglu(fp8_w1_.grouped(d.rows, *w1_, d.local_rows, codes),
                            fp8_w3_.grouped(d.rows, *w3_, d.local_rows, codes));
    expert_out = fp8_w2_.grouped(h, *w2_, d.local_rows);
    if (shared_ && !overlap) shared_out = shared_->forward(u);
  }
  Combining back = dispatcher_->start_combine(expert_out, d, p);
  if (overlap) {
    prof::PhaseScope scope(prof::Phase::experts);
    shared_out = shared_->project(shared_h);
  }
  Tensor y;
  {
    prof::PhaseScope scope(prof::Phase::combine);
    y = Dispatcher::finish_combine(back);
  }

  Tensor out;
  {
    // Gate-weighted sum back onto the tokens.
    prof::PhaseScope scope(prof::Phase::combine);
    const Tensor g = index_select(reshape(r.gates, {N * K}), 0, p.assignment_index);
    const Tensor weighted = mul(y, unsqueeze(cast(g, y.dtype()), 1));
    out = index_add(zeros({N, dim_}, x.dtype(), x.device()), 0, p.token_index, weighted);
    if (shared_) out = add(out, shared_out);
  }

  stats_.expert_load = p.expert_rows;
  stats_.assignments = N * K;
  stats_.dropped = p.dropped;
  stats_.keep = p.keep;
  if (training() && cfg_.selection_bias())
    for (int32_t e : r.experts) pending_load_[size_t(e)] += 1.0;
  return view(out, {B, T, dim_});
}

std::vector<fp8::DelayedScaling*> MoeLayer::expert_fp8_states() const {
  std::vector<fp8::DelayedScaling*> out;
  for (const Fp8Gemm* g : {&fp8_w1_, &fp8_w3_, &fp8_w2_})
    if (g->state()) out.push_back(g->state());
  return out;
}

void MoeLayer::update_selection_bias() {
  if (!cfg_.selection_bias()) return;
  double mean = 0;
  for (double l : pending_load_) mean += l;
  mean /= double(pending_load_.size());
  NoGradGuard no_grad;
  // b += rate * sign(mean - load), the step built on the host (f32, so the
  // sum rounds as b[i] += rate would) and added where the bias lives.
  const float rate = float(cfg_.bias_update_rate());
  std::vector<double> step(pending_load_.size());
  for (size_t i = 0; i < pending_load_.size(); ++i) {
    const double diff = mean - pending_load_[i];
    step[i] = diff > 0 ? rate : (diff < 0 ? -rate : 0.0f);
  }
  copy_(*bias_, add(*bias_, from_vector(step, bias_->shape(), DType::f32, bias_->device())));
  std::fill(pending_load_.begin(), pending_load_.end(), 0.0);
}

}  // namespace moe::model
