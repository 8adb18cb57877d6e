#include "launch/checkpointing.h"

#include <chrono>
#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/plan.h"
#include "comm/communicator.h"
#include "comm/mpi_communicator.h"
#include "launch/config.h"

namespace moe::launch {

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The parts of the saved config a resumed run must share: what defines the
// model, the data stream (sequence length, batch, seeds) and dropout.
std::string run_identity_diff(const config::TrainConfig& saved, const config::TrainConfig& now) {
  std::string diff;
  google::protobuf::util::MessageDifferencer d;
  // An unset field equals one set to its default (the saved text has every
  // default written out).
  d.set_message_field_comparison(google::protobuf::util::MessageDifferencer::EQUIVALENT);
  std::string model_diff;
  d.ReportDifferencesToString(&model_diff);
  d.Compare(saved.model(), now.model());
  if (!model_diff.empty()) diff += "model: " + model_diff;
  auto scalar = [&](const char* name, auto a, auto b) {
    if (a != b) diff += absl::StrCat(name, ": checkpoint ", a, ", this run ", b, "\n");
  };
  scalar("seq_len", saved.seq_len(), now.seq_len());
  scalar("global_batch_size", saved.global_batch_size(), now.global_batch_size());
  scalar("seed", saved.seed(), now.seed());
  scalar("data.seed", saved.data().seed(), now.data().seed());
  return diff;
}

}  // namespace

std::string checkpoint_root(const config::TrainConfig& cfg) {
  return cfg.checkpoint().dir().empty() ? cfg.run_dir() + "/checkpoints" : cfg.checkpoint().dir();
}

absl::Status TrainCheckpoints::same_run(const checkpoint::CheckpointMeta& meta) const {
  absl::StatusOr<config::TrainConfig> saved = parse_train_config(meta.config_text(), "the checkpoint's config");
  if (!saved.ok()) return saved.status();
  const std::string diff = run_identity_diff(*saved, cfg_);
  if (diff.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("this run's config differs from the checkpoint's (set checkpoint.allow_config_change=true to "
                   "resume anyway):\n",
                   diff));
}

TrainCheckpoints::TrainCheckpoints(const config::TrainConfig& cfg, parallel::Mesh& mesh, model::Transformer& model,
                                   ParamUpdater& updater)
    : cfg_(cfg), mesh_(mesh), model_(model), updater_(updater), root_(checkpoint_root(cfg)), last_save_s_(now_s()) {}

absl::StatusOr<ResumePoint> TrainCheckpoints::resume() {
  ResumePoint at;
  const std::string& which = cfg_.checkpoint().resume_from();
  if (which.empty()) return at;
  const bool checksums = true;
  absl::StatusOr<checkpoint::Loadable> pick =
      cfg_.checkpoint().on_corrupt() == config::CORRUPT_STOP
          ? [&]() -> absl::StatusOr<checkpoint::Loadable> {
              // No fallback: the chosen checkpoint must verify as it is.
              absl::Status mine = absl::OkStatus();
              absl::StatusOr<std::string> dir = checkpoint::resolve(root_, which);
              if (!dir.ok()) mine = dir.status();
              if (mine.ok() && mesh_.rank() == 0) mine = checkpoint::verify_checkpoint(*dir, checksums);
              if (absl::Status s = checkpoint::agree(mesh_.world(), mine); !s.ok()) return s;
              return checkpoint::Loadable{*dir, {}};
            }()
          : checkpoint::find_loadable(mesh_.world(), root_, which, checksums);
  if (!pick.ok()) return pick.status();
  if (mesh_.rank() == 0)
    for (const std::string& r : pick->rejected)
      std::fprintf(stderr, "moe-train: checkpoint rejected, falling back: %s\n", r.c_str());

  absl::Status mine = [&]() -> absl::Status {
    absl::StatusOr<checkpoint::CheckpointMeta> meta = checkpoint::read_metadata(pick->step_dir);
    if (!meta.ok()) return meta.status();
    at.step = meta->step();
    at.tokens_seen = meta->tokens_seen();
    at.from = pick->step_dir;
    // A finished run (a requeue after the end): nothing to load or train.
    if (at.step >= cfg_.steps()) {
      at.finished = true;
      return absl::OkStatus();
    }
    for (model::Named& n : model_.named_parameters())
      if (absl::Status s = checkpoint::load_tensor(pick->step_dir, *meta, n.name, n.shard, n.tensor); !s.ok())
        return s;
    for (model::Named& n : model_.named_buffers()) {
      // A run that turned delayed FP8 scaling on (with allow_config_change)
      // starts the histories the checkpoint lacks empty, as a fresh run does.
      if (absl::EndsWith(n.name, ".fp8_amax_history") && !checkpoint::find_tensor(*meta, n.name)) continue;
      if (absl::Status s = checkpoint::load_tensor(pick->step_dir, *meta, n.name, n.shard, n.tensor); !s.ok())
        return s;
    }
    const std::vector<checkpoint::ParamShard> shards = checkpoint::param_shards(model_.named_parameters());
    if (absl::Status s = checkpoint::load_state_tensors(pick->step_dir, *meta, updater_.optimizer().state(), shards);
        !s.ok())
      return s;
    // After the tensors: a model whose shapes differ is reported by tensor
    // name and both shapes; this catches what shapes cannot (heads, router
    // settings, seeds, batch).
    if (!cfg_.checkpoint().allow_config_change())
      if (absl::Status s = same_run(*meta); !s.ok()) return s;
    return absl::OkStatus();
  }();
  if (absl::Status s = checkpoint::agree(mesh_.world(), mine); !s.ok())
    return absl::Status(s.code(), absl::StrCat("resume from ", pick->step_dir, ": ", s.message()));
  last_save_s_ = now_s();
  return at;
}

bool TrainCheckpoints::due(int64_t steps_done) {
  const config::CheckpointConfig& c = cfg_.checkpoint();
  if (c.every_steps() > 0 && steps_done % c.every_steps() == 0) return true;
  if (c.every_minutes() <= 0) return false;
  // Clocks differ between ranks: the decision is rank 0's.
  const int64_t mine = now_s() - last_save_s_ >= 60.0 * c.every_minutes() ? 1 : 0;
  std::vector<int64_t> flag{mesh_.rank() == 0 ? mine : 0};
  return comm::all_reduce_values(mesh_.world(), std::move(flag), comm::ReduceOp::max)[0] > 0;
}

absl::Status TrainCheckpoints::save_failed(const absl::Status& error, int64_t steps_done, bool final) {
  ++failed_saves_;
  absl::StatusOr<std::string> good = checkpoint::resolve(root_, "latest");
  const std::string last_good =
      good.ok() ? *good : absl::StrCat("none (no checkpoint committed under ", root_, ")");
  const bool nonfinite = checkpoint::is_nonfinite_error(error);
  const bool stop = final || nonfinite || cfg_.checkpoint().on_save_error() == config::SAVE_ERROR_STOP;
  const bool lead = mesh_.rank() == 0;
  // Each failing rank also logs its own part (per-rank logs under a
  // scheduler); rank 0's report below already holds every rank's.
  if (const std::string own = checkpoint::own_save_error(error); !lead && !own.empty()) {
    std::fprintf(stderr, "moe-train: [%s] this rank's part of checkpoint step %lld failed: %s\n",
                 comm::rank_label().c_str(), static_cast<long long>(steps_done), own.c_str());
    std::fflush(stderr);
  }
  if (stop) {
    const std::string why = nonfinite ? "the state holds non-finite values; no later save can succeed"
                            : final   ? "the run's last save failed"
                                      : "checkpoint.on_save_error=SAVE_ERROR_STOP";
    // The same text on every rank: rank 0 prints it (moe-train prints
    // kAborted errors only on rank 0).
    return absl::Status(lead ? error.code() : absl::StatusCode::kAborted,
                        absl::StrCat(error.message(), "\nstopping (", why, "); the last good checkpoint is ",
                                     last_good));
  }
  if (lead) {
    const config::CheckpointConfig& c = cfg_.checkpoint();
    std::string next = "the end of the run";
    if (const int64_t at = c.every_steps() > 0 ? (steps_done / c.every_steps() + 1) * c.every_steps() : 0;
        at > 0 && at < cfg_.steps())
      next = absl::StrCat("step ", at);
    if (c.every_minutes() > 0)
      next = absl::StrCat(next, " or ", c.every_minutes(), " min from now, whichever comes first");
    std::fprintf(stderr,
                 "moe-train: WARNING: %s\nmoe-train: WARNING: training continues "
                 "(checkpoint.on_save_error=SAVE_ERROR_CONTINUE; %lld failed save%s in a row); the last good "
                 "checkpoint is %s; next attempt at %s\n",
                 std::string(error.message()).c_str(), static_cast<long long>(failed_saves_),
                 failed_saves_ == 1 ? "" : "s", last_good.c_str(), next.c_str());
    std::fflush(stderr);
  }
  return absl::OkStatus();
}

absl::Status TrainCheckpoints::save(int64_t steps_done, int64_t tokens_seen, bool quiet, bool final) {
  const checkpoint::Place place = checkpoint::Place::of(&mesh_);
  std::vector<model::Named> params = model_.named_parameters(), buffers = model_.named_buffers();
  std::vector<checkpoint::SaveTensor> tensors = checkpoint::model_save_tensors(params, place);
  for (checkpoint::SaveTensor& t : checkpoint::model_save_tensors(buffers, place)) tensors.push_back(std::move(t));
  absl::StatusOr<std::vector<checkpoint::SaveTensor>> state = checkpoint::state_save_tensors(
      updater_.optimizer().state(), checkpoint::param_shards(params), place, cfg_.parallel().zero1());
  if (!state.ok()) return state.status();
  for (checkpoint::SaveTensor& t : *state) tensors.push_back(std::move(t));

  checkpoint::CheckpointMeta meta;
  meta.set_tokens_seen(tokens_seen);
  checkpoint::SavedLayout* l = meta.mutable_layout();
  l->set_world(mesh_.world().size());
  l->set_tp(mesh_.sizes().tp);
  l->set_ep(mesh_.sizes().ep);
  l->set_dp(mesh_.sizes().dp());
  l->set_zero1(cfg_.parallel().zero1());
  meta.set_config_text(config_to_text(cfg_));
  meta.set_code_version("moe checkpoint format " + std::to_string(checkpoint::kFormatVersion));
  // Every random stream is Philox keyed by (seed, step, ...): the seeds and
  // the step are the whole RNG state.
  (*meta.mutable_rng_seeds())["model.init_seed"] = cfg_.model().init_seed();
  (*meta.mutable_rng_seeds())["data.seed"] = cfg_.data().seed();
  (*meta.mutable_rng_seeds())["seed"] = cfg_.seed();
  checkpoint::SaveOptions opt;
  opt.keep_last = cfg_.checkpoint().keep_last();
  opt.keep_every = cfg_.checkpoint().keep_every();
  absl::StatusOr<checkpoint::SaveReport> r =
      checkpoint::save_checkpoint(mesh_.world(), root_, steps_done, tensors, meta, opt);
  // A failed save restarts the every_minutes clock too: retrying at every
  // step would stall training on a file system that is failing.
  last_save_s_ = now_s();
  if (!r.ok()) return save_failed(r.status(), steps_done, final);
  failed_saves_ = 0;
  if (!quiet && mesh_.rank() == 0)
    std::printf("checkpoint %s: %.1f MB from rank 0 in %.2f s (write %.2f s)\n", r->step_dir.c_str(),
                double(r->bytes_written) / 1e6, r->total_seconds, r->write_seconds);
  return absl::OkStatus();
}

}  // namespace moe::launch
