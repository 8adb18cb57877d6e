#pragma once
// The training loop, on one rank or on a parallel mesh: model, optimizer
// (optionally ZeRO-1), schedule, data sharded over DP, gradient
// accumulation, gradient synchronisation, global clipping, aux-loss-free
// bias updates, evaluation and metrics (rank 0 prints and writes them).
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "comm/communicator.h"
#include "core/device.h"
#include "launch/train_config.pb.h"
#include "parallel/mesh.h"

namespace moe::launch {

// Every value is global (the same on every rank): losses are the means over
// the global batch, whatever the layout.
struct TrainResult {
  int64_t steps_done = 0;
  double last_train_loss = 0;  // lm loss of the last step
  double last_val_loss = -1;   // last evaluation (< 0: none ran)
  double tokens_per_s = 0;     // global tokens per second, mean over the run, evaluation excluded
  bool interrupted = false;
  // Resumed from a checkpoint (this one) at or past `steps`: nothing ran.
  std::string already_finished;
  std::vector<double> train_losses;  // lm loss of every step
  std::vector<int64_t> skipped_steps;  // steps skipped by the step guard (non-finite loss or gradient norm)
  std::vector<int64_t> loss_spikes;    // updated steps whose loss was logged as a spike
};

// Trains as `cfg` says on `mesh` (null: one rank). `stop`, when set (e.g. by
// SIGINT), ends the run cleanly after the current step. Errors in the config
// or the data come back as a status naming the field or file; every rank
// reaches the same verdict on the config and the layout. A step whose loss
// or gradient norm is not finite is skipped on every rank (launch/step_guard.h);
// optim.max_skipped_steps of them in a row end the run with an error and
// without a checkpoint of that state.
// `on_step`, when set, is called on every rank at the start of each step
// with the step index (moe-bench step resets its phase timers after warm-up).
// The device this rank trains on: the CPU, or (device = cuda) its node-local
// GPU, the local rank read from the launcher's environment
// (OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID or LOCAL_RANK).
absl::StatusOr<Device> rank_device(const config::TrainConfig& cfg);

// The world group a run on `device` talks over: `world` itself on the CPU or
// with one rank, else the NCCL group of its ranks on that GPU.
std::unique_ptr<comm::Communicator> run_world(std::unique_ptr<comm::Communicator> world, Device device);

absl::StatusOr<TrainResult> train(const config::TrainConfig& cfg, const std::atomic<bool>* stop = nullptr,
                                  bool quiet = false, parallel::Mesh* mesh = nullptr,
                                  const std::function<void(int64_t step)>& on_step = {});

}  // namespace moe::launch
