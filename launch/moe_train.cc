// moe-train: trains a model as its config says, on one process or on every
// rank of an mpirun/srun job.
//   moe-train --config configs/tiny_moe.pbtxt [--set model.moe.top_k=4 ...]
//   mpirun -np 4 moe-train --config ... --set parallel.ep=2
//   moe-train --config ... --resume            (latest checkpoint; or --resume=123, --resume=DIR)
// Ctrl-C stops after the current step: saves a checkpoint, exits 130.
// SIGTERM / SIGUSR1 (preemption; mpirun forwards SIGUSR1 to every rank):
// finish the step, save, exit 0. A fatal error on any rank ends every rank
// with a non-zero status; the message names the rank and host. A rank whose
// launcher died stops at once without saving (launch/launcher_watch.h).
// Rank 0 locks the run directory for the whole run (launch/run_dir.h); a
// start from step 0 over committed checkpoints needs --overwrite; --resume
// of a finished run exits 0.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "comm/mpi_communicator.h"
#include "core/error.h"
#include "launch/cli_flags.h"
#include "launch/config.h"
#include "launch/launcher_watch.h"
#include "launch/run_dir.h"
#include "launch/trainer.h"

ABSL_FLAG(std::string, config, "configs/tiny_moe.pbtxt", "run config (protobuf text, see configs/)");
// Documented here for --help; main() takes every --set out of argv itself,
// because absl keeps only the last occurrence of a flag and splits vectors
// on commas, which repeated fields ("a=1,2") need.
ABSL_FLAG(std::string, set, "", "config override field=value, repeatable: --set model.moe.top_k=4 --set steps=100");
ABSL_FLAG(std::string, resume, "",
          "resume from a checkpoint: latest (also a bare --resume), a step (123 or step_00000123) or a step "
          "directory; sets checkpoint.resume_from. A run already at its last step exits 0");
ABSL_FLAG(bool, overwrite, false,
          "start from step 0 although the checkpoint root holds committed checkpoints: deletes them first "
          "(metrics.jsonl and config.pbtxt are rewritten as in any fresh start). Without it such a start is "
          "refused; --resume continues instead");
ABSL_FLAG(bool, allow_empty_config, false,
          "accept a --config file that sets no field (every value the default) instead of refusing it");
ABSL_FLAG(bool, list_config, false,
          "print every config field (its --set path, type, default and documentation) and exit");

namespace {
std::atomic<bool> g_stop{false};
std::atomic<int> g_signal{0};
extern "C" void on_signal(int sig) {
  g_signal.store(sig);
  g_stop.store(true);
}
// A bare "--resume" means the latest checkpoint (absl string flags need a value).
void expand_bare_resume(int argc, char** argv) {
  static char latest[] = "--resume=latest";
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--resume" && (i + 1 == argc || std::string(argv[i + 1]).rfind("--", 0) == 0))
      argv[i] = latest;
}
}  // namespace

int main(int argc, char** argv) {
  moe::comm::mpi_init(&argc, &argv);
  moe::launch::set_usage("moe-train --config FILE [--set field=value ...]");
  absl::StatusOr<std::vector<std::string>> overrides = moe::launch::take_repeated_flag("set", argc, argv);
  if (!overrides.ok()) {
    std::fprintf(stderr, "moe-train: %s\n", std::string(overrides.status().message()).c_str());
    return 2;
  }
  expand_bare_resume(argc, argv);
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_list_config)) {
    std::fputs(moe::launch::list_config_fields().c_str(), stdout);
    return 0;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGUSR1, on_signal);
  try {
    std::unique_ptr<moe::comm::Communicator> world = moe::comm::world_communicator(300);
    const bool lead = world->rank() == 0;
    const std::string who = world->size() > 1 ? absl::StrCat("[", moe::comm::rank_label(), "] ") : "";
    moe::launch::watch_launcher("moe-train: " + who);
    if (!absl::GetFlag(FLAGS_resume).empty()) overrides->push_back("checkpoint.resume_from=" + absl::GetFlag(FLAGS_resume));
    absl::StatusOr<moe::config::TrainConfig> cfg = moe::launch::load_train_config(
        absl::GetFlag(FLAGS_config), *overrides, absl::GetFlag(FLAGS_allow_empty_config));
    absl::Status layout = cfg.ok() ? moe::launch::validate_layout(*cfg, world->size()) : cfg.status();
    if (layout.ok() && absl::GetFlag(FLAGS_overwrite) && !cfg->checkpoint().resume_from().empty())
      layout = absl::InvalidArgumentError("--overwrite and --resume contradict each other: pick one");
    // Rank 0 locks the run directory before anything in it is written or
    // deleted, and holds it until the process ends. A config that fails
    // validation deletes nothing under --overwrite.
    absl::StatusOr<std::vector<moe::launch::DirLock>> locks;
    if (layout.ok() && lead) layout = moe::launch::validate(*cfg);
    if (layout.ok() && lead) {
      locks = moe::launch::lock_run_dirs(*cfg);
      layout = locks.ok() ? moe::launch::prepare_fresh_start(*cfg, absl::GetFlag(FLAGS_overwrite)) : locks.status();
    }
    // The ranks agree before the first group is built. The same error on
    // every rank (the usual case) is printed once, by rank 0; an error of
    // some ranks only (a file missing on one node) by each of them.
    std::vector<int64_t> failed(size_t(world->size()), 0);
    failed[size_t(world->rank())] = layout.ok() ? 0 : 1;
    if (world->size() > 1) failed = moe::comm::all_reduce_values(*world, std::move(failed), moe::comm::ReduceOp::sum);
    if (std::find(failed.begin(), failed.end(), 1) != failed.end()) {
      if (!layout.ok() && (lead || !failed[0]))
        std::fprintf(stderr, "moe-train: %s%s\n", who.c_str(), std::string(layout.message()).c_str());
      return 2;
    }
    // MOE_COMM_TIMEOUT_S, when set, wins over the config (the watchdog's
    // message points users at it).
    world->set_timeout_s(std::getenv("MOE_COMM_TIMEOUT_S") ? moe::comm::default_timeout_s()
                                                           : cfg->parallel().comm_timeout_s());
    // Several GPU ranks: the groups are NCCL's (the host group stays inside
    // for counts, barriers and CPU statistics).
    if (cfg->device() == "cuda" && world->size() > 1) {
      absl::StatusOr<moe::Device> dev = moe::launch::rank_device(*cfg);
      if (!dev.ok()) {
        std::fprintf(stderr, "moe-train: %s%s\n", who.c_str(), std::string(dev.status().message()).c_str());
        moe::comm::abort_job("moe-train: no usable GPU on this rank", 2);
      }
      world = moe::launch::run_world(std::move(world), *dev);
    }
    if (lead && cfg->eval_every() <= 0)
      std::printf("moe-train: warning: eval_every = %lld: no validation loss is computed in this run\n",
                  static_cast<long long>(cfg->eval_every()));
    moe::parallel::Mesh mesh(std::move(world), int(cfg->parallel().tp()), int(cfg->parallel().ep()));
    absl::StatusOr<moe::launch::TrainResult> r = moe::launch::train(*cfg, &g_stop, false, &mesh);
    if (!r.ok()) {
      // train() agrees on setup errors over the ranks: the failing rank
      // names itself, the others say who failed.
      if (lead || r.status().code() != absl::StatusCode::kAborted)
        std::fprintf(stderr, "moe-train: %s%s\n", who.c_str(), std::string(r.status().message()).c_str());
      return 1;
    }
    if (!r->already_finished.empty()) {
      // A requeued job whose run ended: success, not a failure to retry.
      if (lead)
        std::printf("moe-train: nothing to do: %s is at step %lld and the run has steps = %lld (finished)\n",
                    r->already_finished.c_str(), static_cast<long long>(r->steps_done),
                    static_cast<long long>(cfg->steps()));
      return 0;
    }
    // Preemption (SIGTERM / SIGUSR1) saved and ends well; Ctrl-C is an interruption.
    const int code = r->interrupted && g_signal.load() == SIGINT ? 130 : 0;
    if (!lead) return code;
    const std::string val = r->last_val_loss >= 0 ? absl::StrFormat("val loss %.4f", r->last_val_loss)
                                                  : std::string("no evaluation ran");
    std::printf("moe-train: %s after %lld steps: train loss %.4f, %s, %.0f tokens/s\n",
                r->interrupted ? "interrupted" : "done", static_cast<long long>(r->steps_done), r->last_train_loss,
                val.c_str(), r->tokens_per_s);
    return code;
  } catch (const std::exception& e) {
    // A failure inside the run: the other ranks may be waiting in a
    // collective, so the whole job is aborted.
    moe::comm::abort_job(std::string("moe-train: error: ") + e.what(), 1);
  }
}
