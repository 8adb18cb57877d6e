#pragma once
// The single-process training loop: model, optimizer, schedule, data,
// gradient accumulation, clipping, aux-loss-free bias updates, evaluation
// and metrics.
#include <atomic>
#include <cstdint>

#include "absl/status/statusor.h"
#include "launch/train_config.pb.h"

namespace moe::launch {

struct TrainResult {
  int64_t steps_done = 0;
  double last_train_loss = 0;  // lm loss of the last step
  double last_val_loss = -1;   // last evaluation (< 0: none ran)
  double tokens_per_s = 0;     // mean over the run, evaluation excluded
  bool interrupted = false;
};

// Trains as `cfg` says. `stop`, when set (e.g. by SIGINT), ends the run
// cleanly after the current step. Errors in the config or the data come back
// as a status naming the field or file.
absl::StatusOr<TrainResult> train(const config::TrainConfig& cfg, const std::atomic<bool>* stop = nullptr,
                                  bool quiet = false);

}  // namespace moe::launch
