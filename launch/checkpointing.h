#pragma once
// The trainer's side of checkpoints (the format and the collective save /
// load are checkpoint/): which tensors a run saves (parameters, buffers such
// as the router's selection biases, the optimizer state or this rank's
// ZeRO-1 shard of it), what the metadata records, when a save is due, and
// how a run resumes from one, on any layout.
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "checkpoint/metadata.pb.h"
#include "launch/param_update.h"
#include "launch/train_config.pb.h"
#include "model/transformer.h"
#include "parallel/mesh.h"

namespace moe::launch {

// checkpoint.dir, or <run_dir>/checkpoints when it is empty.
std::string checkpoint_root(const config::TrainConfig& cfg);

struct ResumePoint {
  int64_t step = 0;         // first step to run
  int64_t tokens_seen = 0;  // before it
  std::string from;         // the step directory loaded ("" when starting fresh)
  bool finished = false;    // the checkpoint is at or past cfg.steps: nothing was loaded, nothing to train
};

class TrainCheckpoints {
 public:
  TrainCheckpoints(const config::TrainConfig& cfg, parallel::Mesh& mesh, model::Transformer& model,
                   ParamUpdater& updater);

  // Collective. When checkpoint.resume_from is set: picks the checkpoint
  // (falling back past one that fails verification unless on_corrupt is
  // CORRUPT_STOP), checks that it is this model (every tensor's global
  // shape), and loads parameters, buffers and optimizer state into this
  // layout. Errors name the directory and the tensor. A checkpoint at or
  // past `steps` comes back as `finished` (not an error: a requeued job
  // whose run already ended is done).
  absl::StatusOr<ResumePoint> resume();

  // Whether a save is due after `steps_done` steps (every_steps, or
  // every_minutes since the last save, agreed over the ranks). Collective.
  bool due(int64_t steps_done);
  // Collective: saves the state after `steps_done` steps. Rank 0 prints the
  // save time and size unless quiet. A failed save is printed loudly by
  // rank 0 (every failing rank, file and errno; the last good checkpoint)
  // and then, under checkpoint.on_save_error = SAVE_ERROR_CONTINUE, returns
  // OK so that training goes on and the next due save tries again; it is
  // an error (every rank; rank 0's names the last good checkpoint, the
  // others' are kAborted) under SAVE_ERROR_STOP, for the `final` save (the
  // run's end or a stop on a signal: no next save), and when the state
  // holds NaN or inf.
  absl::Status save(int64_t steps_done, int64_t tokens_seen, bool quiet, bool final = false);

  const std::string& root() const { return root_; }

 private:
  // OK when the checkpoint's run config matches this one where it must.
  absl::Status same_run(const checkpoint::CheckpointMeta& meta) const;
  // save()'s policy for a failed save (see there).
  absl::Status save_failed(const absl::Status& error, int64_t steps_done, bool final);
  const config::TrainConfig& cfg_;
  parallel::Mesh& mesh_;
  model::Transformer& model_;
  ParamUpdater& updater_;
  std::string root_;
  double last_save_s_;
  int64_t failed_saves_ = 0;  // in a row, up to the last save
};

}  // namespace moe::launch
