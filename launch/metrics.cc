#include "launch/metrics.h"

#include <string>

#include "absl/strings/str_format.h"

namespace moe::launch {

MetricsWriter::MetricsWriter(const std::string& run_dir, bool append) {
  if (!run_dir.empty()) jsonl_ = std::fopen((run_dir + "/metrics.jsonl").c_str(), append ? "a" : "w");
}

MetricsWriter::~MetricsWriter() {
  if (jsonl_) std::fclose(jsonl_);
}

void MetricsWriter::step(const StepMetrics& m) {
  std::string line = absl::StrFormat("step %5d | loss %.4f", m.step, m.lm_loss);
  std::string json = absl::StrFormat("{\"step\": %d, \"lm_loss\": %.6f", m.step, m.lm_loss);
  for (const auto& [name, v] : m.aux) {
    line += absl::StrFormat(" | %s %.4g", name, v);
    json += absl::StrFormat(", \"%s\": %.6g", name, v);
  }
  if (m.mtp_loss >= 0) {
    line += absl::StrFormat(" | mtp %.4f", m.mtp_loss);
    json += absl::StrFormat(", \"mtp_loss\": %.6f", m.mtp_loss);
  }
  line += absl::StrFormat(" | lr %.3e | gnorm %.3f | %.0f tok/s", m.lr, m.grad_norm, m.tokens_per_s);
  json += absl::StrFormat(", \"lr\": %.6g, \"grad_norm\": %.6g, \"tokens_per_s\": %.1f", m.lr, m.grad_norm,
                          m.tokens_per_s);
  if (m.moe) {
    line += absl::StrFormat(" | load max/mean %.2f | dropped %.2f%%", m.max_load, m.dropped_pct);
    json += absl::StrFormat(", \"max_over_mean_load\": %.4f, \"dropped_pct\": %.4f", m.max_load, m.dropped_pct);
  }
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  if (jsonl_) {
    std::fprintf(jsonl_, "%s}\n", json.c_str());
    std::fflush(jsonl_);
  }
}

void MetricsWriter::eval(int64_t step, double val_loss, double train_loss) {
  std::printf("eval %5lld | train %.4f | val %.4f\n", static_cast<long long>(step), train_loss, val_loss);
  std::fflush(stdout);
  if (jsonl_) {
    std::fprintf(jsonl_, "{\"step\": %lld, \"eval_train_loss\": %.6f, \"val_loss\": %.6f}\n",
                 static_cast<long long>(step), train_loss, val_loss);
    std::fflush(jsonl_);
  }
}

}  // namespace moe::launch
