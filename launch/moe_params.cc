// moe-params: parameter, FLOP and memory counts of a preset or a config,
// computed analytically (model/param_count.h), never by building the model.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "launch/cli_flags.h"
#include "launch/config.h"
#include "model/param_count.h"
#include "model/presets.h"

ABSL_FLAG(std::string, preset, "",
          "model preset (deepseek-v3, deepseek-v2, mixtral-8x7b, qwen3-235b-a22b, tiny-moe, ...)");
ABSL_FLAG(std::string, config, "", "training config (protobuf text), instead of --preset");
ABSL_FLAG(std::vector<std::string>, set, {},
          "override field=value (repeatable; with --preset: model.* fields, optim.moment_dtype)");
ABSL_FLAG(int64_t, tp, 1, "tensor-parallel ranks");
ABSL_FLAG(int64_t, ep, 1, "expert-parallel ranks");
ABSL_FLAG(int64_t, dp, 1, "data-parallel ranks");
ABSL_FLAG(bool, zero1, false, "shard Adam states over data-parallel replicas");
ABSL_FLAG(bool, bf16_copy, false, "keep a bf16 compute copy of the weights (bf16 activations)");
ABSL_FLAG(int64_t, micro_batch, 0, "sequences per micro-batch (0: the config's micro_batch_size, or 1)");
ABSL_FLAG(int64_t, seq_len, 0, "tokens per sequence (0: the config's seq_len; presets min(max_seq_len, 4096))");

namespace {

using moe::model::ParamComponents;

std::string count(double n) {
  if (n >= 1e9) return absl::StrFormat("%.2fB", n / 1e9);
  if (n >= 1e6) return absl::StrFormat("%.2fM", n / 1e6);
  if (n >= 1e3) return absl::StrFormat("%.2fK", n / 1e3);
  return absl::StrFormat("%.0f", n);
}

// 671026404352 -> "671,026,404,352"
std::string grouped(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string bytes(double b) {
  constexpr double kGiB = 1024.0 * 1024 * 1024;
  if (b >= kGiB) return absl::StrFormat("%.2f GiB", b / kGiB);
  return absl::StrFormat("%.2f MiB", b / (1024.0 * 1024));
}

void row(const char* name, int64_t total, const std::string& per_token) {
  std::printf("  %-16s %10s %20s %16s\n", name, count(double(total)).c_str(), grouped(total).c_str(),
              per_token.c_str());
}

// Loads --config (with overrides) or builds a TrainConfig around --preset
// (overrides then address model.* fields), and validates it.
absl::StatusOr<moe::config::TrainConfig> load(const std::string& preset, const std::string& file,
                                              const std::vector<std::string>& overrides) {
  if (preset.empty() == file.empty()) return absl::InvalidArgumentError("give exactly one of --preset or --config");
  absl::StatusOr<moe::config::TrainConfig> cfg = moe::config::TrainConfig();
  if (!file.empty()) {
    cfg = moe::launch::load_train_config(file, overrides);
  } else {
    auto m = moe::model::model_preset(preset);
    if (!m.ok()) return m.status();
    *cfg->mutable_model() = *m;
    cfg->set_seq_len(std::min<int64_t>(m->max_seq_len(), 4096));
    for (const std::string& o : overrides)
      if (absl::Status s = moe::launch::apply_override(*cfg, o); !s.ok()) return s;
  }
  if (!cfg.ok()) return cfg.status();
  if (absl::Status s = moe::launch::validate(*cfg); !s.ok())
    return absl::Status(s.code(), absl::StrCat(file.empty() ? "preset " + preset : file, ": ", s.message()));
  return cfg;
}

moe::model::MemoryLayout layout_from_flags(const moe::config::TrainConfig& cfg, bool from_file) {
  moe::model::MemoryLayout l;
  l.tp = absl::GetFlag(FLAGS_tp);
  l.ep = absl::GetFlag(FLAGS_ep);
  l.dp = absl::GetFlag(FLAGS_dp);
  l.zero1 = absl::GetFlag(FLAGS_zero1);
  l.bf16_compute_copy = absl::GetFlag(FLAGS_bf16_copy);
  // The moment dtype is the config's (with --preset: --set optim.moment_dtype=MOMENT_BF16).
  l.bf16_moments = cfg.optim().moment_dtype() == moe::config::MOMENT_BF16;
  const int64_t micro = cfg.micro_batch_size() > 0 ? cfg.micro_batch_size() : cfg.global_batch_size();
  l.micro_batch = absl::GetFlag(FLAGS_micro_batch) > 0 ? absl::GetFlag(FLAGS_micro_batch) : (from_file ? micro : 1);
  l.seq_len = absl::GetFlag(FLAGS_seq_len) > 0 ? absl::GetFlag(FLAGS_seq_len) : cfg.seq_len();
  return l;
}

void print_model(const moe::config::ModelConfig& c) {
  const bool moe = c.has_moe() && c.moe().num_routed_experts() > 0;
  std::printf("model: d_model %lld, %lld layers", static_cast<long long>(c.d_model()),
              static_cast<long long>(c.n_layers()));
  if (moe && c.first_k_dense() > 0) std::printf(" (first %lld dense)", static_cast<long long>(c.first_k_dense()));
  std::printf(", %lld heads, %s attention, vocab %lld%s\n", static_cast<long long>(c.n_heads()),
              c.attention() == moe::config::ATTENTION_MLA ? "MLA" : "GQA", static_cast<long long>(c.vocab_size()),
              c.tie_embeddings() ? " (tied head)" : "");
  if (moe)
    std::printf("moe: %lld routed experts (top %lld) + %lld shared, expert width %lld\n",
                static_cast<long long>(c.moe().num_routed_experts()), static_cast<long long>(c.moe().top_k()),
                static_cast<long long>(c.moe().num_shared_experts()), static_cast<long long>(c.moe().expert_ffn_dim()));
}

void print_params(const moe::config::ModelConfig& c, const moe::model::ParamCount& p) {
  const ParamComponents &t = p.total, &a = p.activated;
  auto per = [](int64_t n) { return count(double(n)); };
  std::printf("\n  %-16s %10s %20s %16s\n", "parameters", "total", "exact", "per token");
  // A token reads one row of the table: not counted (unless it is the tied head).
  row("embedding", t.embedding, c.tie_embeddings() ? per(a.embedding) + " (head)" : "-");
  row("head", t.head, per(a.head));
  row("attention", t.attention, per(a.attention));
  row("dense FFN", t.dense_ffn, per(a.dense_ffn));
  row("routed experts", t.routed_experts, per(a.routed_experts));
  row("shared experts", t.shared_experts, per(a.shared_experts));
  row("router", t.router, per(a.router));
  row("norms", t.norms, per(a.norms));
  row("total", p.total_params, per(p.activated_params));
  std::printf(
      "  activated per token %s (DeepSeek's convention); %s counting the embedding table "
      "(Mistral's, Qwen's)\n",
      count(double(p.activated_params)).c_str(), count(double(p.activated_with_embedding)).c_str());
  if (p.mtp_params > 0)
    std::printf("  MTP modules: %s (%s) more, not in the total; %s per token\n", count(double(p.mtp_params)).c_str(),
                grouped(p.mtp_params).c_str(), count(double(p.mtp_activated.sum())).c_str());
}

void print_flops(const moe::config::ModelConfig& c, int64_t seq_len) {
  const moe::model::FlopCount f = moe::model::flops_per_token(c, seq_len);
  std::printf("\nFLOPs per token (training, seq %lld): %.4g = 6 x %s matmul weights + attention %.4g",
              static_cast<long long>(seq_len), f.total, count(f.matmul_params).c_str(), f.attention);
  if (f.mtp > 0) std::printf(" + MTP %.4g", f.mtp);
  std::printf("\n");
}

void print_memory(const moe::model::MemoryLayout& l, const moe::model::MemoryPerRank& m) {
  std::printf("\nmemory per rank (tp %lld, ep %lld, dp %lld, zero1 %s, micro-batch %lld x %lld tokens):\n",
              static_cast<long long>(l.tp), static_cast<long long>(l.ep), static_cast<long long>(l.dp),
              l.zero1 ? "on" : "off", static_cast<long long>(l.micro_batch), static_cast<long long>(l.seq_len));
  std::printf("  parameters held    %s (%s non-expert + %s expert)\n",
              count(double(m.dense_params + m.expert_params)).c_str(), count(double(m.dense_params)).c_str(),
              count(double(m.expert_params)).c_str());
  std::printf("  fp32 master        %s\n", bytes(m.master_bytes).c_str());
  std::printf("  fp32 gradients     %s\n", bytes(m.grad_bytes).c_str());
  std::printf("  Adam m, v (%s)   %s\n", l.bf16_moments ? "bf16" : "fp32", bytes(m.optimizer_bytes).c_str());
  if (l.bf16_compute_copy) std::printf("  bf16 copy          %s\n", bytes(m.compute_copy_bytes).c_str());
  std::printf("  activations        %s (estimate, one micro-batch)\n", bytes(m.activation_bytes).c_str());
  std::printf("  total              %s\n", bytes(m.total_bytes()).c_str());
}

int run(const std::vector<std::string>& overrides) {
  const std::string preset = absl::GetFlag(FLAGS_preset), file = absl::GetFlag(FLAGS_config);
  auto cfg = load(preset, file, overrides);
  if (!cfg.ok()) {
    std::fprintf(stderr, "moe-params: error: %s\n", std::string(cfg.status().message()).c_str());
    return 2;
  }
  const moe::model::MemoryLayout layout = layout_from_flags(*cfg, !file.empty());
  auto mem = moe::model::memory_per_rank(cfg->model(), layout);
  if (!mem.ok()) {
    std::fprintf(stderr, "moe-params: error: %s\n", std::string(mem.status().message()).c_str());
    return 2;
  }
  std::printf("moe-params: %s\n", file.empty() ? ("preset " + preset).c_str() : file.c_str());
  print_model(cfg->model());
  print_params(cfg->model(), moe::model::count_params(cfg->model()));
  print_flops(cfg->model(), layout.seq_len);
  print_memory(layout, *mem);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  moe::launch::set_usage(
      "moe-params --preset NAME | --config FILE [--set field=value ...] "
      "[--tp N --ep N --dp N --zero1 --bf16_copy --micro_batch B --seq_len T]");
  // --set repeats and its values may hold commas: collected before absl sees it.
  auto overrides = moe::launch::take_repeated_flag("set", argc, argv);
  if (!overrides.ok()) {
    std::fprintf(stderr, "moe-params: error: %s\n", std::string(overrides.status().message()).c_str());
    return 2;
  }
  absl::ParseCommandLine(argc, argv);
  return run(*overrides);
}
