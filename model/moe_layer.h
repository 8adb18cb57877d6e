#pragma once
// DeepSeekMoE layer (DeepSeek-V2 eq. 20): h = u + sum of the shared experts'
// FFN(u) + sum_i g_i FFN_i(u) over the routed experts the token is sent to.
// (The residual u is added by the block.) Data flow: Router -> selection ->
// dispatch plan (dropping) -> Dispatcher -> grouped SwiGLU experts ->
// combine -> gate-weighted sum.
#include <cstdint>
#include <memory>
#include <vector>

#include "model/balance_loss.h"
#include "model/config.pb.h"
#include "model/dispatcher.h"
#include "model/layers.h"
#include "model/layout.h"
#include "model/routing.h"

namespace moe::model {

// Who the tokens of a batch are: global sequence index of each row and the
// seed of the never-dropped-sequence hash.
struct BatchInfo {
  std::vector<int64_t> global_sequence;  // [B]; empty: 0..B-1
  uint64_t seed = 0;
  // Sequence parallelism: this rank holds positions [position_offset,
  // position_offset + local T) of sequences of seq_len tokens (0: local T).
  int64_t position_offset = 0;
  int64_t seq_len = 0;
};

struct MoeStats {
  std::vector<int64_t> expert_load;  // kept assignments per expert, this forward
  int64_t assignments = 0, dropped = 0;
  std::vector<uint8_t> keep;         // [N * K] the plan's kept flags (token t's k-th choice at t*K+k)
};

struct Routing;  // below: the router's part of a forward

class MoeLayer : public Module {
 public:
  // With an expert-parallel layout this rank holds experts
  // [ep_rank * E/EP, (ep_rank + 1) * E/EP) and dispatches over the EP group.
  MoeLayer(const config::ModelConfig& c, double out_std, const Layout& layout = {});
  // x [B, T, D] -> [B, T, D] (routed + shared experts, no residual). Under
  // sequence parallelism T is this rank's share of each sequence.
  Tensor forward(const Tensor& x, const BatchInfo& info);

  // Aux losses and statistics of the last forward.
  const AuxLosses& aux() const { return aux_; }
  const MoeStats& stats() const { return stats_; }
  // DeepSeek-V3 aux-loss-free balancing: b_i += rate * sign(mean load - load_i)
  // over the selections counted since the last update (training forwards).
  void update_selection_bias();
  const Tensor& selection_bias() const { return *bias_; }
  // Selection counts per expert since the last bias update, of this rank's
  // tokens: the trainer sums them over every rank before updating.
  std::vector<double>& pending_load() { return pending_load_; }

  void set_dispatcher(std::unique_ptr<Dispatcher> d) { dispatcher_ = std::move(d); }
  // The routed experts' delayed FP8 scaling states (model/fp8_gemms.h; one
  // group per local expert), shared by the experts' EDP replicas. The shared
  // experts are Linears (Linear::fp8_state).
  std::vector<fp8::DelayedScaling*> expert_fp8_states() const;

 private:
  // The parts of forward: the dispatch plan of this batch's routing, and its
  // aux losses (this rank's share, model/balance_loss.h).
  DispatchPlan plan(const Routing& r, const BatchInfo& info, int64_t B, int64_t T) const;
  AuxLosses balance(const Routing& r, const DispatchPlan& p, const BatchInfo& info, int64_t B,
                    int64_t T) const;
  config::MoeConfig cfg_;
  Layout layout_;
  SelectionSpec spec_;
  int64_t dim_;
  Tensor* router_w_;  // [E, D]
  Tensor* bias_;      // [E] selection bias (buffer, f32)
  Tensor *w1_, *w3_, *w2_;  // [E, D, F], [E, D, F], [E, F, D]
  Fp8Gemm fp8_w1_, fp8_w3_, fp8_w2_;  // their GEMMs (plain unless model.fp8 selects experts)
  std::unique_ptr<SwiGLU> shared_;
  std::unique_ptr<Dispatcher> dispatcher_;
  AuxLosses aux_;
  MoeStats stats_;
  std::vector<double> pending_load_;
};

// The router's part of a forward, exposed for tests: logits [N, E] (f32),
// scores, selections [N*K] and gates [N, K] (differentiable, normalised and
// scaled as configured).
struct Routing {
  Tensor logits, scores, gates;
  Tensor selected;               // i32 [N, K] the selections, on the scores' device
  std::vector<int32_t> experts;  // the same on the host (the dispatch plan's input)
  std::vector<float> affinity;  // [N*K] unbiased score of each selection (for a dropping rule; else empty)
};
Routing route(const config::MoeConfig& c, const Tensor& x2d, const Tensor& router_w, const Tensor& bias);

}  // namespace moe::model
