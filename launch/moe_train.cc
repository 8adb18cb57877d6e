// moe-train: trains a model as its config says.
//   moe-train --config configs/tiny_moe.pbtxt [--set model.moe.top_k=4 ...]
// Ctrl-C stops after the current step (metrics are flushed).
#include <atomic>
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "core/error.h"
#include "launch/cli_flags.h"
#include "launch/config.h"
#include "launch/trainer.h"

ABSL_FLAG(std::string, config, "configs/tiny_moe.pbtxt", "run config (protobuf text, see configs/)");
// Documented here for --help; main() takes every --set out of argv itself,
// because absl keeps only the last occurrence of a flag and splits vectors
// on commas, which repeated fields ("a=1,2") need.
ABSL_FLAG(std::string, set, "", "config override field=value, repeatable: --set model.moe.top_k=4 --set steps=100");

namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_sigint(int) { g_stop.store(true); }
}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("moe-train --config FILE [--set field=value ...]");
  absl::StatusOr<std::vector<std::string>> overrides = moe::launch::take_repeated_flag("set", argc, argv);
  if (!overrides.ok()) {
    std::fprintf(stderr, "moe-train: %s\n", std::string(overrides.status().message()).c_str());
    return 2;
  }
  absl::ParseCommandLine(argc, argv);
  std::signal(SIGINT, on_sigint);
  std::signal(SIGTERM, on_sigint);
  try {
    absl::StatusOr<moe::config::TrainConfig> cfg =
        moe::launch::load_train_config(absl::GetFlag(FLAGS_config), *overrides);
    if (!cfg.ok()) {
      std::fprintf(stderr, "moe-train: %s\n", std::string(cfg.status().message()).c_str());
      return 2;
    }
    absl::StatusOr<moe::launch::TrainResult> r = moe::launch::train(*cfg, &g_stop);
    if (!r.ok()) {
      std::fprintf(stderr, "moe-train: %s\n", std::string(r.status().message()).c_str());
      return 1;
    }
    std::printf("moe-train: %s after %lld steps: train loss %.4f, val loss %.4f, %.0f tokens/s\n",
                r->interrupted ? "interrupted" : "done", static_cast<long long>(r->steps_done), r->last_train_loss,
                r->last_val_loss, r->tokens_per_s);
    return r->interrupted ? 130 : 0;
  } catch (const moe::Error& e) {
    std::fprintf(stderr, "moe-train: error: %s\n", e.what());
    return 1;
  }
}
