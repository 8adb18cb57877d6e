// validate(): every constraint between config fields, reported together so
// one run of the launcher shows everything that is wrong.
#include <cmath>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "core/kernels/route_math.h"
#include "launch/config.h"
#include "model/dims.h"
#include "parallel/mesh.h"

namespace moe::launch {
namespace {

class Violations {
 public:
  template <typename... Parts>
  void add(const Parts&... parts) {
    list_.push_back(absl::StrCat(parts...));
  }
  // "name = v must be > 0" style checks; each returns whether it passed.
  // A floating-point value must also be finite: no field means anything
  // with inf or NaN (0, not inf, is "off"), and NaN fails every comparison.
  template <typename T>
  bool positive(const char* name, T v) {
    if (!finite(name, v)) return false;
    if (v > 0) return true;
    add(name, " = ", v, " must be > 0");
    return false;
  }
  template <typename T>
  bool non_negative(const char* name, T v) {
    if (!finite(name, v)) return false;
    if (v >= 0) return true;
    add(name, " = ", v, " must be >= 0");
    return false;
  }
  // False, reported once per field, for a NaN or an infinity.
  template <typename T>
  bool finite(const std::string& name, T v) {
    if constexpr (std::is_floating_point_v<T>) {
      if (!std::isfinite(v)) {
        if (non_finite_.insert(name).second) add(name, " = ", v, " is not a finite number");
        return false;
      }
    }
    return true;
  }
  // lo <= v <= hi, or lo <= v < hi when !hi_inclusive.
  bool in_range(const char* name, double v, double lo, double hi, bool hi_inclusive = true) {
    if (!finite(name, v)) return false;
    if (v >= lo && (hi_inclusive ? v <= hi : v < hi)) return true;
    add(name, " = ", v, " must be in [", lo, ", ", hi, hi_inclusive ? "]" : ")");
    return false;
  }
  absl::Status status() const {
    if (list_.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat("invalid config: ", absl::StrJoin(list_, "; ")));
  }

 private:
  std::vector<std::string> list_;
  std::set<std::string> non_finite_;
};

// Every floating-point field set anywhere in `m` must be finite, also those
// no rule above looks at; a field a rule already reported is not repeated.
void check_finite_fields(const google::protobuf::Message& m, const std::string& prefix, Violations& v) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection* r = m.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(m, &fields);  // the set ones: defaults are finite
  for (const FieldDescriptor* f : fields) {
    const std::string name = prefix + f->name();
    const int n = f->is_repeated() ? r->FieldSize(m, f) : 1;
    for (int i = 0; i < n; ++i) {
      const std::string at = f->is_repeated() ? absl::StrCat(name, "[", i, "]") : name;
      switch (f->cpp_type()) {
        case FieldDescriptor::CPPTYPE_DOUBLE:
          v.finite(at, f->is_repeated() ? r->GetRepeatedDouble(m, f, i) : r->GetDouble(m, f));
          break;
        case FieldDescriptor::CPPTYPE_FLOAT:
          v.finite(at, f->is_repeated() ? r->GetRepeatedFloat(m, f, i) : r->GetFloat(m, f));
          break;
        case FieldDescriptor::CPPTYPE_MESSAGE:
          check_finite_fields(f->is_repeated() ? r->GetRepeatedMessage(m, f, i) : r->GetMessage(m, f), at + ".", v);
          break;
        default:
          break;
      }
    }
  }
}

void check_attention(const config::ModelConfig& m, Violations& v) {
  if (m.attention() == config::ATTENTION_MLA) {
    const auto& a = m.mla();
    v.non_negative("model.mla.q_lora_rank", a.q_lora_rank());
    v.positive("model.mla.kv_lora_rank", a.kv_lora_rank());
    v.positive("model.mla.qk_nope_head_dim", a.qk_nope_head_dim());
    v.positive("model.mla.v_head_dim", a.v_head_dim());
    if (v.positive("model.mla.qk_rope_head_dim", a.qk_rope_head_dim()) && a.qk_rope_head_dim() % 2 != 0)
      v.add("model.mla.qk_rope_head_dim = ", a.qk_rope_head_dim(), " must be even (RoPE rotates pairs)");
    if (m.qk_norm()) v.add("model.qk_norm = true is for GQA/MHA attention, not model.attention = ATTENTION_MLA");
    return;
  }
  const bool kv_ok = v.non_negative("model.n_kv_heads", m.n_kv_heads());
  if (kv_ok && m.n_kv_heads() > 0 && m.n_heads() > 0 && m.n_heads() % m.n_kv_heads() != 0)
    v.add("model.n_heads = ", m.n_heads(), " is not divisible by model.n_kv_heads = ", m.n_kv_heads());
  if (!v.non_negative("model.head_dim", m.head_dim())) return;
  int64_t dh = m.head_dim();
  if (dh == 0 && m.n_heads() > 0 && m.d_model() > 0) {
    if (m.d_model() % m.n_heads() != 0) {
      v.add("model.head_dim = 0 means d_model / n_heads, but model.d_model = ", m.d_model(),
            " is not divisible by model.n_heads = ", m.n_heads());
      return;
    }
    dh = m.d_model() / m.n_heads();
  }
  if (dh % 2 != 0) v.add("model.head_dim = ", dh, " must be even (RoPE rotates pairs)");
}

void check_moe(const config::MoeConfig& m, Violations& v) {
  if (!v.non_negative("model.moe.num_routed_experts", m.num_routed_experts()) || m.num_routed_experts() == 0)
    return;  // a dense model: the rest is unused
  const int64_t n = m.num_routed_experts();
  v.non_negative("model.moe.num_shared_experts", m.num_shared_experts());
  v.positive("model.moe.expert_ffn_dim", m.expert_ffn_dim());
  if (m.top_k() < 1 || m.top_k() > n)
    v.add("model.moe.top_k = ", m.top_k(), " must be in [1, model.moe.num_routed_experts = ", n, "]");
  if (!v.positive("model.moe.num_groups", m.num_groups())) return;
  const int64_t groups = m.num_groups();
  if (groups > route_math::kMaxGroups)
    v.add("model.moe.num_groups = ", groups, " exceeds ", route_math::kMaxGroups,
          " (the router keeps the chosen groups as a 64-bit mask)");
  if (n % groups != 0) {
    v.add("model.moe.num_routed_experts = ", n, " is not divisible by model.moe.num_groups = ", groups);
    return;
  }
  const int64_t per_group = n / groups;
  if (m.top_k_groups() < 1 || m.top_k_groups() > groups) {
    v.add("model.moe.top_k_groups = ", m.top_k_groups(), " must be in [1, model.moe.num_groups = ", groups, "]");
  } else if (m.top_k_groups() * per_group < m.top_k()) {
    v.add("model.moe.top_k_groups = ", m.top_k_groups(), " groups x ", per_group,
          " experts per group = ", m.top_k_groups() * per_group, " < model.moe.top_k = ", m.top_k(),
          ": too few experts to choose from");
  }
  if (m.group_score() == config::GROUP_SCORE_TOPN_SUM &&
      (m.group_score_top_n() < 1 || m.group_score_top_n() > per_group))
    v.add("model.moe.group_score_top_n = ", m.group_score_top_n(), " must be in [1, ", per_group,
          " experts per group] with GROUP_SCORE_TOPN_SUM");
  v.positive("model.moe.routed_scaling_factor", m.routed_scaling_factor());
  v.non_negative("model.moe.bias_update_rate", m.bias_update_rate());
  v.non_negative("model.moe.expert_balance_coef", m.expert_balance_coef());
  v.non_negative("model.moe.device_balance_coef", m.device_balance_coef());
  v.non_negative("model.moe.comm_balance_coef", m.comm_balance_coef());
  v.non_negative("model.moe.sequence_balance_coef", m.sequence_balance_coef());
  v.non_negative("model.moe.z_loss_coef", m.z_loss_coef());
  if (v.finite("model.moe.capacity_factor", m.capacity_factor()) && m.drop_policy() != config::DROP_NONE &&
      !(m.capacity_factor() > 0))
    v.add("model.moe.capacity_factor = ", m.capacity_factor(), " must be > 0 when token dropping is on (",
          config::DropPolicy_Name(m.drop_policy()), ")");
  v.in_range("model.moe.protected_sequence_fraction", m.protected_sequence_fraction(), 0, 1);
}

// FP8 GEMMs (model.fp8; model/fp8_gemms.h). FP8 dispatch (model.fp8.dispatch)
// is independent of the recipe.
void check_fp8(const config::Fp8Config& f, Violations& v) {
  if (f.recipe() == config::FP8_OFF) return;
  const std::string& recipe = config::Fp8Recipe_Name(f.recipe());
  if (v.positive("model.fp8.promotion_interval", f.promotion_interval()) && f.recipe() == config::FP8_TILEWISE &&
      128 % f.promotion_interval() != 0)
    v.add("model.fp8.promotion_interval = ", f.promotion_interval(),
          " must divide 128 with FP8_TILEWISE (each promotion chunk must lie inside one 128-wide scale tile)");
  if (f.recipe() == config::FP8_PER_TENSOR_DELAYED) v.positive("model.fp8.amax_history_len", f.amax_history_len());
  if (!f.attention_proj() && !f.dense_mlp() && !f.experts())
    v.add("model.fp8.recipe = ", recipe,
          " but no GEMM is selected (model.fp8.attention_proj, dense_mlp and experts are all false)");
  if (!f.fprop() && !f.dgrad() && !f.wgrad())
    v.add("model.fp8.recipe = ", recipe, " but no pass is selected (model.fp8.fprop, dgrad and wgrad are all false)");
}

void check_model(const config::ModelConfig& m, Violations& v) {
  v.positive("model.vocab_size", m.vocab_size());
  v.positive("model.d_model", m.d_model());
  v.positive("model.n_layers", m.n_layers());
  v.positive("model.n_heads", m.n_heads());
  v.positive("model.max_seq_len", m.max_seq_len());
  check_attention(m, v);
  v.positive("model.rope_theta", m.rope_theta());
  v.positive("model.norm_eps", m.norm_eps());
  v.positive("model.ffn_dim", m.ffn_dim());
  v.positive("model.init_std", m.init_std());
  v.in_range("model.dropout", m.dropout(), 0, 1, /*hi_inclusive=*/false);
  v.non_negative("model.sliding_window", m.sliding_window());
  if (v.non_negative("model.first_k_dense", m.first_k_dense()) && m.first_k_dense() > m.n_layers())
    v.add("model.first_k_dense = ", m.first_k_dense(), " exceeds model.n_layers = ", m.n_layers());
  v.non_negative("model.mtp.depth", m.mtp().depth());
  v.non_negative("model.mtp.weight", m.mtp().weight());
  if (m.has_moe()) check_moe(m.moe(), v);
  // FP8 dispatch quantises the rows of the MoE all-to-all, whatever the GEMM
  // recipe (FP8_OFF included); without routed experts nothing is dispatched.
  if (m.fp8().dispatch() && !model::has_moe(m))
    v.add("model.fp8.dispatch = true but the model has no routed experts (nothing is dispatched)");
  check_fp8(m.fp8(), v);
}

void check_optim(const config::OptimizerConfig& o, int64_t steps, Violations& v) {
  v.positive("optim.lr", o.lr());
  v.in_range("optim.beta1", o.beta1(), 0, 1, /*hi_inclusive=*/false);
  v.in_range("optim.beta2", o.beta2(), 0, 1, /*hi_inclusive=*/false);
  v.positive("optim.eps", o.eps());
  v.non_negative("optim.weight_decay", o.weight_decay());
  v.non_negative("optim.grad_clip", o.grad_clip());
  for (int i = 0; i < o.no_decay_size(); ++i)
    if (o.no_decay(i).empty()) v.add("optim.no_decay[", i, "] is an empty pattern");
  const auto& s = o.schedule();
  if (v.non_negative("optim.schedule.warmup_steps", s.warmup_steps()) && s.warmup_steps() > steps)
    v.add("optim.schedule.warmup_steps = ", s.warmup_steps(), " exceeds steps = ", steps);
  if (v.finite("optim.schedule.min_lr", s.min_lr()) && std::isfinite(o.lr()) &&
      !(s.min_lr() >= 0 && s.min_lr() <= o.lr()))
    v.add("optim.schedule.min_lr = ", s.min_lr(), " must be in [0, optim.lr = ", o.lr(), "]");
  v.in_range("optim.schedule.decay_fraction", s.decay_fraction(), 0, 1);
  for (int i = 0; i < s.milestones_size(); ++i) {
    const double m = s.milestones(i);
    if (!v.finite(absl::StrCat("optim.schedule.milestones[", i, "]"), m)) continue;
    if (!(m > 0 && m < 1)) v.add("optim.schedule.milestones[", i, "] = ", m, " must be a fraction in (0, 1)");
    if (i > 0 && !(m > s.milestones(i - 1)))
      v.add("optim.schedule.milestones must increase, got ", m, " after ", s.milestones(i - 1));
  }
  v.positive("optim.schedule.gamma", s.gamma());
  const auto& mu = o.muon();
  v.in_range("optim.muon.momentum", mu.momentum(), 0, 1, /*hi_inclusive=*/false);
  v.positive("optim.muon.ns_steps", mu.ns_steps());
  v.positive("optim.muon.rms_match", mu.rms_match());
  v.non_negative("optim.muon.qk_clip_threshold", mu.qk_clip_threshold());
  v.non_negative("optim.max_skipped_steps", o.max_skipped_steps());
  // A factor <= 1 would call an ordinary step a spike.
  if (o.loss_spike_factor() != 0 && !(o.loss_spike_factor() > 1))
    v.add("optim.loss_spike_factor = ", o.loss_spike_factor(), " must be 0 (off) or > 1");
  if (o.loss_spike_factor() != 0) v.positive("optim.loss_spike_window", o.loss_spike_window());
}

// QK-Clip rescales W_q / W_k per head; a per-head RMSNorm after them undoes
// any such scale, and its weights are shared by the heads.
void check_qk_clip(const config::TrainConfig& c, Violations& v) {
  const bool clip = c.optim().kind() == config::OPTIMIZER_MUON && c.optim().muon().qk_clip_threshold() > 0;
  if (clip && c.model().qk_norm())
    v.add("optim.muon.qk_clip_threshold = ", c.optim().muon().qk_clip_threshold(),
          " (QK-Clip) cannot be used with model.qk_norm = true: the per-head norm cancels the rescaled W_q / W_k");
}

// Seconds a collective may wait before the job is aborted. Also checked by
// validate_layout, which every rank of moe-train runs before applying the
// timeout (validate() may run on rank 0 only, or after the dataset opens).
void check_comm_timeout(const config::ParallelConfig& p, Violations& v) {
  v.positive("parallel.comm_timeout_s", p.comm_timeout_s());
}

void check_run(const config::TrainConfig& c, Violations& v) {
  v.positive("steps", c.steps());
  if (c.seq_len() < 1 || c.seq_len() > c.model().max_seq_len())
    v.add("seq_len = ", c.seq_len(), " must be in [1, model.max_seq_len = ", c.model().max_seq_len(), "]");
  const bool global_ok = v.positive("global_batch_size", c.global_batch_size());
  if (v.non_negative("micro_batch_size", c.micro_batch_size()) && global_ok && c.micro_batch_size() > 0 &&
      c.global_batch_size() % c.micro_batch_size() != 0)
    v.add("global_batch_size = ", c.global_batch_size(),
          " is not divisible by micro_batch_size = ", c.micro_batch_size());
  v.non_negative("eval_every", c.eval_every());
  if (c.eval_every() > 0) v.positive("eval_batches", c.eval_batches());
  v.positive("log_every", c.log_every());
  if (c.run_dir().empty()) v.add("run_dir is empty");
  v.non_negative("threads", c.threads());
  if (c.data().path().empty()) v.add("data.path is empty (set it to a moe-prep .h5 file or a Megatron prefix)");
  v.positive("parallel.tp", c.parallel().tp());
  v.positive("parallel.ep", c.parallel().ep());
  v.non_negative("parallel.ranks_per_node", c.parallel().ranks_per_node());
  check_comm_timeout(c.parallel(), v);
  v.positive("parallel.grad_bucket_mb", c.parallel().grad_bucket_mb());
  v.non_negative("checkpoint.every_steps", c.checkpoint().every_steps());
  v.non_negative("checkpoint.keep_last", c.checkpoint().keep_last());
  v.non_negative("checkpoint.keep_every", c.checkpoint().keep_every());
  v.non_negative("checkpoint.every_minutes", c.checkpoint().every_minutes());
}

// device: what a CUDA run of this build covers (several ranks talk over
// NCCL); ZeRO-1's sharded optimizer is CPU code.
void check_device(const config::TrainConfig& c, Violations& v) {
  if (c.device() == "cpu") return;
  if (c.device() != "cuda") {
    v.add("device = '", c.device(), "' must be cpu or cuda (each rank takes its node-local GPU; no index)");
    return;
  }
  if (c.parallel().zero1()) v.add("parallel.zero1 = true with device = cuda: ZeRO-1 runs on CPU ranks only in this build");
}

}  // namespace

namespace {

// FP8 under tensor parallelism. A per-tensor scale of a TP rank's slice
// (weight, or the row-parallel input) would be the slice's, not the
// tensor's: refused. Tile-wise scales are per 128 channels (per 128x128
// block), so they equal one rank's when every TP-split dimension of an FP8
// GEMM gives each rank whole 128-channel tiles.
void check_fp8_tensor_parallel(const config::ModelConfig& m, int tp, Violations& v) {
  const config::Fp8Config& f = m.fp8();
  if (f.recipe() == config::FP8_OFF) return;
  const bool dense_ffn = !model::has_moe(m) || m.first_k_dense() > 0;
  if (f.recipe() != config::FP8_TILEWISE) {
    if (f.attention_proj() || (f.dense_mlp() && dense_ffn))
      v.add("model.fp8.recipe = ", config::Fp8Recipe_Name(f.recipe()),
            " is not supported with parallel.tp > 1 (a TP rank would scale its slice of each weight by the slice's "
            "amax); use FP8_TILEWISE or tp = 1");
    return;
  }
  auto split = [&](const char* what, int64_t dim) {
    if (dim % (128 * int64_t(tp)) != 0)
      v.add("model.fp8.recipe = FP8_TILEWISE with parallel.tp = ", tp, ": ", what, " = ", dim,
            " must be a multiple of 128 x tp = ", 128 * int64_t(tp),
            " (each TP rank must hold whole 128-channel scale tiles)");
  };
  if (f.attention_proj()) {
    if (m.attention() == config::ATTENTION_MLA) {
      const auto& a = m.mla();
      split("n_heads x (qk_nope_head_dim + qk_rope_head_dim)", m.n_heads() * (a.qk_nope_head_dim() + a.qk_rope_head_dim()));
      split("n_heads x (qk_nope_head_dim + v_head_dim)", m.n_heads() * (a.qk_nope_head_dim() + a.v_head_dim()));
      split("n_heads x v_head_dim", m.n_heads() * a.v_head_dim());
    } else {
      split("n_heads x head_dim", m.n_heads() * model::head_dim(m));
      split("n_kv_heads x head_dim", model::kv_heads(m) * model::head_dim(m));
    }
  }
  if (f.dense_mlp() && dense_ffn) split("model.ffn_dim", m.ffn_dim());
}

}  // namespace

absl::Status validate_layout(const config::TrainConfig& c, int world) {
  const config::ParallelConfig& p = c.parallel();
  const config::ModelConfig& m = c.model();
  const bool moe = model::has_moe(m);
  parallel::MeshSizes sizes{world, int(p.tp()), int(p.ep())};
  parallel::MeshModelFacts facts;
  facts.routed_experts = moe ? m.moe().num_routed_experts() : 0;
  facts.heads = m.n_heads();
  facts.kv_heads = model::kv_heads(m);
  facts.vocab = m.vocab_size();
  facts.seq_len = c.seq_len();
  facts.ffn_dim = moe && m.first_k_dense() == 0 ? 0 : m.ffn_dim();  // 0: no dense FFN
  Violations v;
  check_comm_timeout(p, v);
  const absl::Status mesh = parallel::validate_mesh(sizes, facts);
  if (!mesh.ok()) v.add(mesh.message());
  if (mesh.ok()) {
    const int64_t dp = world / p.tp(), G = c.global_batch_size();
    if (G % dp != 0) {
      v.add("global_batch_size = ", G, " is not divisible by the data-parallel size ", dp, " (world ", world,
            " / parallel.tp ", p.tp(), ")");
    } else if (c.micro_batch_size() > 0 && (G / dp) % c.micro_batch_size() != 0) {
      v.add("micro_batch_size = ", c.micro_batch_size(), " (per data-parallel rank) does not divide the ", G / dp,
            " sequences of each of the ", dp, " data-parallel ranks");
    }
    if (p.tp() > 1 && c.optim().kind() == config::OPTIMIZER_MUON)
      v.add("optim.kind = OPTIMIZER_MUON is not supported with parallel.tp > 1 (Newton-Schulz needs the whole "
            "matrix; a TP rank holds a slice)");
    if (p.tp() > 1) check_fp8_tensor_parallel(m, int(p.tp()), v);
    if (p.tp() > 1 && m.has_mtp() && m.mtp().depth() > 0)
      v.add("model.mtp.depth = ", m.mtp().depth(), ": multi-token prediction is not supported with parallel.tp > 1");
    if (moe && p.ep() > 1) {
      const int64_t Gr = m.moe().num_groups(), ep = p.ep(), rpn = p.ranks_per_node();
      const bool limited = m.moe().top_k_groups() < Gr;
      // A group must be whole EP ranks' experts: G/EP groups per rank, or a
      // node of EP/G consecutive ranks.
      const bool per_rank = Gr % ep == 0, per_node = ep % Gr == 0 && rpn > 0 && rpn == ep / Gr;
      if (limited && !per_rank && !per_node)
        v.add("model.moe.num_groups = ", Gr, " does not fit parallel.ep = ", ep,
              ": device-limited routing needs num_groups a multiple of ep (groups within a rank) or ep / "
              "parallel.ranks_per_node groups (a group = a node)");
      if (m.moe().drop_policy() == config::DROP_DEVICE_BUDGET && Gr != ep)
        v.add("model.moe.num_groups = ", Gr, " must equal parallel.ep = ", ep,
              " under DROP_DEVICE_BUDGET (the budget is per device)");
    }
  }
  return v.status();
}

absl::Status validate(const config::TrainConfig& cfg, int64_t dataset_max_token, const std::string& max_token_at) {
  Violations v;
  check_model(cfg.model(), v);
  check_optim(cfg.optim(), cfg.steps(), v);
  check_qk_clip(cfg, v);
  check_run(cfg, v);
  check_device(cfg, v);
  check_finite_fields(cfg, "", v);
  if (dataset_max_token >= 0 && cfg.model().vocab_size() <= dataset_max_token)
    v.add("model.vocab_size ", cfg.model().vocab_size(), " is smaller than the dataset's largest token ",
          dataset_max_token, " + 1", max_token_at.empty() ? "" : absl::StrCat(" (token ", dataset_max_token, " at ",
                                                                              max_token_at, ")"));
  return v.status();
}

}  // namespace moe::launch
