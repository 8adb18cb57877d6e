// moe-bench step: the trainer's step time on this layout, broken down by
// phase (core/phase_timer.h), gathered over the ranks through the
// Communicator interface only (no MPI calls here, so it runs unchanged on
// any Communicator the trainer runs on).
//   mpirun -np 4 moe-bench step --config configs/tiny_moe.pbtxt --set parallel.ep=4 --steps 10 --warmup 3
// Runs warmup + steps training steps; the phase timers are reset at the
// first measured step. Rank 0 prints the breakdown and appends a CSV row.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "comm/mpi_communicator.h"
#include "core/phase_timer.h"
#include "launch/bench.h"
#include "launch/bench_report.h"
#include "launch/cli_flags.h"
#include "launch/config.h"
#include "launch/trainer.h"
#include "model/param_count.h"

namespace moe::bench {
namespace {

constexpr int P = prof::kPhases;

std::vector<std::string> csv_header() {
  std::vector<std::string> h = {"ranks",        "tp",     "ep",          "dp",         "mode",
                                "global_batch", "tokens_per_step", "steps", "step_s", "tokens_per_s",
                                "tokens_per_s_per_rank"};
  for (int p = 0; p < P; ++p) h.push_back(std::string(prof::phase_name(prof::Phase(p))) + "_s");
  for (int p = 0; p < P; ++p) h.push_back(std::string(prof::phase_name(prof::Phase(p))) + "_mean_s");
  for (int p = 0; p < P; ++p) h.push_back(std::string(prof::phase_name(prof::Phase(p))) + "_bytes");
  h.insert(h.end(), {"untimed_s", "load_imbalance", "threads"});
  return h;
}

}  // namespace

int run_step(const std::vector<std::string>& args_in) {
  // --set is repeatable (and may hold commas): take it out as moe-train does.
  std::vector<std::string> storage = args_in;
  std::vector<char*> argv = {const_cast<char*>("step")};
  for (std::string& s : storage) argv.push_back(s.data());
  int argc = int(argv.size());
  absl::StatusOr<std::vector<std::string>> sets = launch::take_repeated_flag("set", argc, argv.data());
  if (!sets.ok()) throw BenchUsageError(std::string(sets.status().message()));
  const Flags f =
      parse_flags(std::vector<std::string>(argv.begin() + 1, argv.begin() + argc), {"config", "steps", "warmup", "csv", "mode", "peak-tflops"});
  const int64_t steps = int_flag(f, "steps", 10, 1, 1 << 20);
  const int64_t warmup = int_flag(f, "warmup", 3, 0, 1 << 20);
  const std::string mode = str_flag(f, "mode", "strong");
  const std::string csv = str_flag(f, "csv", "");
  // MFU's denominator, per rank: default the BF16 dense peak of an H100 /
  // H200 SXM (989 TFLOP/s); set it for other parts (and for CPU ranks).
  const double peak_tflops = double(int_flag(f, "peak-tflops", 989, 1, 1 << 20));
  if (mode != "strong" && mode != "weak") throw BenchUsageError("--mode is strong or weak, got '" + mode + "'");

  std::unique_ptr<comm::Communicator> world = comm::world_communicator(0);
  const bool lead = world->rank() == 0;
  absl::StatusOr<config::TrainConfig> cfg =
      launch::load_train_config(str_flag(f, "config", "configs/tiny_moe.pbtxt"), *sets);
  absl::Status layout = cfg.ok() ? launch::validate_layout(*cfg, world->size()) : cfg.status();
  if (!layout.ok()) {
    if (lead) std::fprintf(stderr, "moe-bench step: %s\n", std::string(layout.message()).c_str());
    return 2;
  }
  // Timing only: no evaluation, logging or checkpoint; the LR
  // warm-up is cut to the run's length so that any config validates.
  cfg->set_steps(warmup + steps);
  cfg->set_eval_every(0);
  cfg->set_log_every(cfg->steps());  // quiet: nothing is printed
  cfg->mutable_checkpoint()->set_save(false);  // a benchmark's state is not worth a save
  auto* sched = cfg->mutable_optim()->mutable_schedule();
  sched->set_warmup_steps(std::min<int64_t>(sched->warmup_steps(), cfg->steps()));
  world->set_timeout_s(cfg->parallel().comm_timeout_s());
  parallel::Mesh mesh(std::move(world), int(cfg->parallel().tp()), int(cfg->parallel().ep()));
  const int R = mesh.world().size();

  double t_start = 0;
  auto on_step = [&](int64_t step) {
    if (step != warmup) return;
    mesh.world().barrier();  // every rank starts the measured window together
    prof::set_enabled(true);
    prof::reset();
    t_start = now_s();
  };
  absl::StatusOr<launch::TrainResult> r = launch::train(*cfg, nullptr, true, &mesh, on_step);
  const double wall = now_s() - t_start;
  const prof::PhaseTotals tot = prof::snapshot();
  prof::set_enabled(false);
  if (!r.ok()) {
    if (lead || r.status().code() != absl::StatusCode::kAborted)
      std::fprintf(stderr, "moe-bench step: %s\n", std::string(r.status().message()).c_str());
    return 1;
  }

  // Row per rank: P seconds, P bytes, wall; summed into place over the world.
  const int W = 2 * P + 1;
  std::vector<double> table(size_t(R * W), 0.0);
  double* mine = &table[size_t(mesh.rank() * W)];
  for (int p = 0; p < P; ++p) {
    mine[p] = tot.seconds[size_t(p)];
    mine[P + p] = double(tot.bytes[size_t(p)]);
  }
  mine[2 * P] = wall;
  table = comm::all_reduce_values(mesh.world(), std::move(table), comm::ReduceOp::sum);
  if (!lead) return 0;

  const double n = double(steps);
  auto at = [&](int rank, int col) { return table[size_t(rank * W + col)]; };
  auto max_of = [&](int col) {
    double m = 0;
    for (int q = 0; q < R; ++q) m = std::max(m, at(q, col));
    return m;
  };
  auto mean_of = [&](int col) {
    double s = 0;
    for (int q = 0; q < R; ++q) s += at(q, col);
    return s / R;
  };
  const double step_s = max_of(2 * P) / n;
  const int64_t tokens = cfg->global_batch_size() * cfg->seq_len();
  double timed = 0;
  for (int p = 0; p < P; ++p) timed += mean_of(p) / n;
  // Rows each rank's experts processed = the rows it sends back in combine
  // (EP > 1). Without EP every rank runs its own, equal, share of tokens.
  const int combine = P + int(prof::Phase::combine);
  const double imbalance = mesh.sizes().ep > 1 && mean_of(combine) > 0 ? max_of(combine) / mean_of(combine) : 1.0;

  std::printf("moe-bench step: %d ranks (tp %d, ep %d, dp %d), %s scaling, global batch %lld x %lld tokens, "
              "%lld steps after %lld warm-up\n",
              R, mesh.sizes().tp, mesh.sizes().ep, mesh.sizes().dp(), mode.c_str(),
              static_cast<long long>(cfg->global_batch_size()), static_cast<long long>(cfg->seq_len()),
              static_cast<long long>(steps), static_cast<long long>(warmup));
  std::printf("  step %.2f ms, %.0f tokens/s (%.0f per rank), load imbalance %.3f, final loss %.4f\n",
              step_s * 1e3, double(tokens) / step_s, double(tokens) / step_s / R, imbalance, r->last_train_loss);
  const model::FlopCount flops = model::flops_per_token(cfg->model(), cfg->seq_len());
  const double achieved = flops.total * double(tokens) / step_s / R * 1e-12;
  std::printf("  model %.4g FLOP/token: %.4g TFLOP/s per rank, MFU %.1f%% of %.0f TFLOP/s\n", flops.total, achieved,
              100 * achieved / peak_tflops, peak_tflops);
  std::printf("  %-11s %10s %10s %7s %12s\n", "phase", "max ms", "mean ms", "share", "bytes/rank");
  for (int p = 0; p < P; ++p) {
    if (at(0, p) == 0 && max_of(p) == 0) continue;
    std::printf("  %-11s %10.3f %10.3f %6.1f%% %12.0f\n", prof::phase_name(prof::Phase(p)), max_of(p) / n * 1e3,
                mean_of(p) / n * 1e3, 100 * mean_of(p) / n / step_s, mean_of(P + p) / n);
  }
  std::printf("  %-11s %10s %10.3f %6.1f%%\n", "untimed", "", (step_s - timed) * 1e3, 100 * (step_s - timed) / step_s);

  if (!csv.empty()) {
    std::vector<std::string> row = {std::to_string(R),
                                    std::to_string(mesh.sizes().tp),
                                    std::to_string(mesh.sizes().ep),
                                    std::to_string(mesh.sizes().dp()),
                                    mode,
                                    std::to_string(cfg->global_batch_size()),
                                    std::to_string(tokens),
                                    std::to_string(steps),
                                    fmt(step_s),
                                    fmt(double(tokens) / step_s),
                                    fmt(double(tokens) / step_s / R)};
    for (int p = 0; p < P; ++p) row.push_back(fmt(max_of(p) / n));
    for (int p = 0; p < P; ++p) row.push_back(fmt(mean_of(p) / n));
    for (int p = 0; p < P; ++p) row.push_back(std::to_string(std::llround(mean_of(P + p) / n)));
    row.insert(row.end(), {fmt(step_s - timed), fmt(imbalance), std::to_string(cfg->threads())});
    append_csv(csv, csv_header(), row);
  }
  return 0;
}

}  // namespace moe::bench
