#pragma once
// Training metrics: one line per logged step on stdout, one JSON object
// per line in <run_dir>/metrics.jsonl, and the same numbers as TensorBoard
// scalars under <run_dir>/tb/ (launch/tensorboard.h).
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace moe::launch {

class TbWriter;

struct StepMetrics {
  int64_t step = 0;
  double lm_loss = 0, lr = 0, grad_norm = 0, tokens_per_s = 0;
  // Aux terms (coefficient included), summed over MoE layers; absent when off.
  std::vector<std::pair<std::string, double>> aux;
  double mtp_loss = -1;       // < 0: MTP off
  double max_load = 0;        // worst MoE layer's max expert load / mean load (1 = perfect balance)
  double dropped_pct = 0;     // assignments dropped, percent
  bool moe = false;
  int64_t skipped = 0;        // steps skipped so far in this run (non-finite loss or gradient norm)
  bool step_skipped = false;  // this step was one of them
  // Wall time of this process's run so far (evaluations and saves
  // included), and the time left at the run's mean pace; < 0: not known.
  double elapsed_s = -1, eta_s = -1;
};

// "45s", "3m07s", "2h05m" (whole seconds; hours and minutes past an hour).
std::string format_duration(double seconds);

class MetricsWriter {
 public:
  // Opens <run_dir>/metrics.jsonl: truncated, or, when a run resumes after
  // `resume_step` steps (>= 0), keeping only the records of those steps (a
  // crashed run may have logged steps after its last checkpoint). An empty
  // run_dir writes only stdout.
  explicit MetricsWriter(const std::string& run_dir, int64_t resume_step = -1);
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;

  void step(const StepMetrics& m);
  void eval(int64_t step, double val_loss, double train_loss);
  // Something an operator should see (a loss spike, the end of a diverged
  // run): `text` on stdout, and {"step", "event": kind, values...} in the
  // JSON lines.
  void event(int64_t step, const std::string& kind, const std::string& text,
             const std::vector<std::pair<std::string, double>>& values);

 private:
  std::FILE* jsonl_ = nullptr;
  std::unique_ptr<TbWriter> tb_;
};

}  // namespace moe::launch
