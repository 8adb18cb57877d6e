// The optimizer factory and the validation of its config.
#include "absl/strings/str_cat.h"
#include "core/error.h"
#include "optim/adamw.h"
#include "optim/muon.h"
#include "optim/optimizer.h"

namespace moe::optim {

namespace {

absl::Status bad(const char* field, const char* rule, double value) {
  return absl::InvalidArgumentError(absl::StrCat("optimizer.", field, " must be ", rule, ", got ", value));
}

}  // namespace

absl::Status validate_optimizer_config(const config::OptimizerConfig& cfg) {
  if (!(cfg.lr() > 0)) return bad("lr", "> 0", cfg.lr());
  if (!(cfg.beta1() >= 0 && cfg.beta1() < 1)) return bad("beta1", "in [0, 1)", cfg.beta1());
  if (!(cfg.beta2() >= 0 && cfg.beta2() < 1)) return bad("beta2", "in [0, 1)", cfg.beta2());
  if (!(cfg.eps() > 0)) return bad("eps", "> 0", cfg.eps());
  if (!(cfg.weight_decay() >= 0)) return bad("weight_decay", ">= 0", cfg.weight_decay());
  if (!(cfg.grad_clip() >= 0)) return bad("grad_clip", ">= 0 (0 = off)", cfg.grad_clip());
  const config::MuonConfig& m = cfg.muon();
  if (!(m.momentum() >= 0 && m.momentum() < 1)) return bad("muon.momentum", "in [0, 1)", m.momentum());
  if (m.ns_steps() < 1) return bad("muon.ns_steps", ">= 1", double(m.ns_steps()));
  if (!(m.rms_match() > 0)) return bad("muon.rms_match", "> 0", m.rms_match());
  if (!(m.qk_clip_threshold() >= 0)) return bad("muon.qk_clip_threshold", ">= 0 (0 = off)", m.qk_clip_threshold());
  return absl::OkStatus();
}

std::unique_ptr<Optimizer> make_optimizer(const config::OptimizerConfig& cfg, std::vector<NamedParam> params) {
  const absl::Status st = validate_optimizer_config(cfg);
  MOE_CHECK(st.ok(), "make_optimizer: ", st.message());
  switch (cfg.kind()) {
    case config::OPTIMIZER_ADAMW:
      return std::make_unique<AdamW>(std::move(params), cfg);
    case config::OPTIMIZER_MUON:
      return std::make_unique<Muon>(std::move(params), cfg);
  }
  MOE_CHECK(false, "make_optimizer: unknown optimizer kind ", int(cfg.kind()));
}

}  // namespace moe::optim
