// moe-train: trains a model as its config says, on one process or on every
// rank of an mpirun/srun job.
//   moe-train --config configs/tiny_moe.pbtxt [--set model.moe.top_k=4 ...]
//   mpirun -np 4 moe-train --config ... --set parallel.ep=2
//   moe-train --config ... --resume            (latest checkpoint; or --resume=123, --resume=DIR)
// Ctrl-C stops after the current step: saves a checkpoint, exits 130.
// SIGTERM / SIGUSR1 (preemption; mpirun forwards SIGUSR1 to every rank):
// finish the step, save, exit 0. A fatal error on any rank ends every rank
// with a non-zero status; the message names the rank and host.
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
#include "comm/mpi_communicator.h"
#include "core/error.h"
#include "launch/cli_flags.h"
#include "launch/config.h"
#include "launch/trainer.h"

ABSL_FLAG(std::string, config, "configs/tiny_moe.pbtxt", "run config (protobuf text, see configs/)");
// Documented here for --help; main() takes every --set out of argv itself,
// because absl keeps only the last occurrence of a flag and splits vectors
// on commas, which repeated fields ("a=1,2") need.
ABSL_FLAG(std::string, set, "", "config override field=value, repeatable: --set model.moe.top_k=4 --set steps=100");
ABSL_FLAG(std::string, resume, "",
          "resume from a checkpoint: latest (also a bare --resume), a step (123 or step_00000123) or a step "
          "directory; sets checkpoint.resume_from");

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
  absl::SetProgramUsageMessage("moe-train --config FILE [--set field=value ...]");
  absl::StatusOr<std::vector<std::string>> overrides = moe::launch::take_repeated_flag("set", argc, argv);
  if (!overrides.ok()) {
    std::fprintf(stderr, "moe-train: %s\n", std::string(overrides.status().message()).c_str());
    return 2;
  }
  expand_bare_resume(argc, argv);
  absl::ParseCommandLine(argc, argv);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGUSR1, on_signal);
  try {
    std::unique_ptr<moe::comm::Communicator> world = moe::comm::world_communicator(300);
    const bool lead = world->rank() == 0;
    const std::string who = world->size() > 1 ? absl::StrCat("[", moe::comm::rank_label(), "] ") : "";
    if (!absl::GetFlag(FLAGS_resume).empty()) overrides->push_back("checkpoint.resume_from=" + absl::GetFlag(FLAGS_resume));
    absl::StatusOr<moe::config::TrainConfig> cfg =
        moe::launch::load_train_config(absl::GetFlag(FLAGS_config), *overrides);
    absl::Status layout = cfg.ok() ? moe::launch::validate_layout(*cfg, world->size()) : cfg.status();
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
    moe::parallel::Mesh mesh(std::move(world), int(cfg->parallel().tp()), int(cfg->parallel().ep()));
    absl::StatusOr<moe::launch::TrainResult> r = moe::launch::train(*cfg, &g_stop, false, &mesh);
    if (!r.ok()) {
      // train() agrees on setup errors over the ranks: the failing rank
      // names itself, the others say who failed.
      if (lead || r.status().code() != absl::StatusCode::kAborted)
        std::fprintf(stderr, "moe-train: %s%s\n", who.c_str(), std::string(r.status().message()).c_str());
      return 1;
    }
    // Preemption (SIGTERM / SIGUSR1) saved and ends well; Ctrl-C is an interruption.
    const int code = r->interrupted && g_signal.load() == SIGINT ? 130 : 0;
    if (!lead) return code;
    std::printf("moe-train: %s after %lld steps: train loss %.4f, val loss %.4f, %.0f tokens/s\n",
                r->interrupted ? "interrupted" : "done", static_cast<long long>(r->steps_done), r->last_train_loss,
                r->last_val_loss, r->tokens_per_s);
    return code;
  } catch (const std::exception& e) {
    // A failure inside the run: the other ranks may be waiting in a
    // collective, so the whole job is aborted.
    moe::comm::abort_job(std::string("moe-train: error: ") + e.what(), 1);
  }
}
