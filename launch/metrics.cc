#include "launch/metrics.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/str_format.h"
#include "launch/tensorboard.h"

namespace moe::launch {

namespace {

// The records of a metrics.jsonl a resumed run keeps: steps before
// `resume_step`, and the evaluation after exactly that many steps.
std::string records_before(const std::string& path, int64_t resume_step) {
  std::ifstream in(path);
  std::string line, kept;
  while (std::getline(in, line)) {
    long long step = -1;
    if (std::sscanf(line.c_str(), "{\"step\": %lld", &step) != 1) continue;
    const bool eval = line.find("\"val_loss\"") != std::string::npos;
    if (step < resume_step || (eval && step == resume_step)) kept += line + "\n";
  }
  return kept;
}

// JSON has no NaN or infinity: a non-finite value is written as null.
std::string finite_or_null(double v, const std::string& formatted) { return std::isfinite(v) ? formatted : "null"; }

}  // namespace

std::string format_duration(double seconds) {
  const int64_t s = seconds > 0 ? int64_t(seconds + 0.5) : 0;
  if (s < 60) return absl::StrFormat("%ds", s);
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
}

MetricsWriter::MetricsWriter(const std::string& run_dir, int64_t resume_step) {
  if (run_dir.empty()) return;
  const std::string path = run_dir + "/metrics.jsonl";
  const std::string kept = resume_step >= 0 ? records_before(path, resume_step) : std::string();
  jsonl_ = std::fopen(path.c_str(), "w");
  if (jsonl_) std::fputs(kept.c_str(), jsonl_);
  absl::StatusOr<std::unique_ptr<TbWriter>> tb = TbWriter::open(run_dir + "/tb");
  if (tb.ok())
    tb_ = std::move(*tb);
  else
    std::fprintf(stderr, "moe-train: warning: no TensorBoard events: %s\n", std::string(tb.status().message()).c_str());
}

MetricsWriter::~MetricsWriter() {
  if (jsonl_) std::fclose(jsonl_);
}

void MetricsWriter::step(const StepMetrics& m) {
  std::string line = absl::StrFormat("step %5d | loss %.4f", m.step, m.lm_loss);
  // lm_loss to 17 digits, which round-trip a double: a resumed run's losses
  // can be compared bitwise with an uninterrupted run's from the file alone.
  std::string json = absl::StrFormat("{\"step\": %d, \"lm_loss\": %s", m.step,
                                     finite_or_null(m.lm_loss, absl::StrFormat("%.17g", m.lm_loss)));
  for (const auto& [name, v] : m.aux) {
    line += absl::StrFormat(" | %s %.4g", name, v);
    json += absl::StrFormat(", \"%s\": %s", name, finite_or_null(v, absl::StrFormat("%.6g", v)));
  }
  if (m.mtp_loss >= 0 || std::isnan(m.mtp_loss)) {
    line += absl::StrFormat(" | mtp %.4f", m.mtp_loss);
    json += absl::StrFormat(", \"mtp_loss\": %s", finite_or_null(m.mtp_loss, absl::StrFormat("%.6f", m.mtp_loss)));
  }
  line += absl::StrFormat(" | lr %.3e | gnorm %.3f | %.0f tok/s", m.lr, m.grad_norm, m.tokens_per_s);
  json += absl::StrFormat(", \"lr\": %.6g, \"grad_norm\": %s, \"tokens_per_s\": %.1f", m.lr,
                          finite_or_null(m.grad_norm, absl::StrFormat("%.6g", m.grad_norm)), m.tokens_per_s);
  if (m.moe) {
    line += absl::StrFormat(" | load max/mean %.2f | dropped %.2f%%", m.max_load, m.dropped_pct);
    json += absl::StrFormat(", \"max_over_mean_load\": %.4f, \"dropped_pct\": %.4f", m.max_load, m.dropped_pct);
  }
  if (m.elapsed_s >= 0) {
    line += " | elapsed " + format_duration(m.elapsed_s);
    json += absl::StrFormat(", \"elapsed_s\": %.1f", m.elapsed_s);
  }
  if (m.eta_s >= 0) {
    line += " | eta " + format_duration(m.eta_s);
    json += absl::StrFormat(", \"eta_s\": %.1f", m.eta_s);
  }
  line += absl::StrFormat(" | skipped %d", m.skipped);
  json += absl::StrFormat(", \"skipped\": %d", m.skipped);
  if (m.step_skipped) {
    line += " | SKIPPED (non-finite loss or gradient norm: no update)";
    json += ", \"step_skipped\": true";
  }
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  if (jsonl_) {
    std::fprintf(jsonl_, "%s}\n", json.c_str());
    std::fflush(jsonl_);
  }
  if (tb_) {
    std::vector<std::pair<std::string, double>> s = {
        {"train/loss", m.lm_loss}, {"train/lr", m.lr}, {"train/grad_norm", m.grad_norm},
        {"perf/tokens_per_s", m.tokens_per_s}, {"train/skipped_steps", double(m.skipped)}};
    for (const auto& [name, v] : m.aux) s.emplace_back("aux/" + name, v);
    if (m.mtp_loss >= 0) s.emplace_back("train/mtp_loss", m.mtp_loss);
    if (m.moe) {
      s.emplace_back("moe/max_over_mean_load", m.max_load);
      s.emplace_back("moe/dropped_pct", m.dropped_pct);
    }
    tb_->scalars(m.step, s);
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
  if (tb_) tb_->scalars(step, {{"val/loss", val_loss}, {"val/train_loss", train_loss}});
}

void MetricsWriter::event(int64_t step, const std::string& kind, const std::string& text,
                          const std::vector<std::pair<std::string, double>>& values) {
  std::printf("%s\n", text.c_str());
  std::fflush(stdout);
  if (!jsonl_) return;
  std::string json = absl::StrFormat("{\"step\": %d, \"event\": \"%s\"", step, kind);
  for (const auto& [name, v] : values)
    json += absl::StrFormat(", \"%s\": %s", name, finite_or_null(v, absl::StrFormat("%.6g", v)));
  std::fprintf(jsonl_, "%s}\n", json.c_str());
  std::fflush(jsonl_);
}

}  // namespace moe::launch
