// The step guard (launch/step_guard.h) in the training loop: a step with NaN
// gradients or a NaN loss (MOE_INJECT_NAN) is skipped on every rank and
// changes no saved state (parameters, optimizer moments and step counters,
// selection biases, FP8 amax histories, QK-Clip'd weights); training goes
// on from that state; optim.max_skipped_steps skips in a row end the run
// without a checkpoint; loss spikes are reported; metrics.jsonl says so.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>

#include "checkpoint/checkpoint.h"
#include "checkpoint/slice_file.h"
#include "core/ops.h"
#include "launch/step_guard.h"
#include "launch/trainer.h"
#include "tests/launch/train_test_util.h"
#include "tests/mpi_test_util.h"

namespace moe::launch {
namespace {

// MOE_INJECT_NAN for the lifetime of the object (every rank sets the same).
struct InjectNan {
  explicit InjectNan(const std::string& spec) { ::setenv("MOE_INJECT_NAN", spec.c_str(), 1); }
  ~InjectNan() { ::unsetenv("MOE_INJECT_NAN"); }
};

std::string fresh_dir(const std::string& dir) {
  if (test::test_world().rank() == 0) std::filesystem::remove_all(dir);
  test::test_world().barrier();
  return dir;
}

std::unique_ptr<parallel::Mesh> mesh_for_world(int ep) {
  comm::Communicator& world = test::test_world();
  if (world.size() == 1) return nullptr;
  return std::make_unique<parallel::Mesh>(world.split(0, world.rank(), "world"), 1, ep);
}

absl::StatusOr<TrainResult> run(const config::TrainConfig& cfg, parallel::Mesh* mesh, int64_t stop_after = 0,
                                bool quiet = true) {
  std::atomic<bool> stop{false};
  auto on_step = [&](int64_t step) {
    if (stop_after > 0 && step + 1 == stop_after) stop.store(true);
  };
  return train(cfg, &stop, quiet, mesh, on_step);
}

TrainResult run_ok(const config::TrainConfig& cfg, parallel::Mesh* mesh, int64_t stop_after = 0, bool quiet = true) {
  absl::StatusOr<TrainResult> r = run(cfg, mesh, stop_after, quiet);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : TrainResult{};
}

// Every tensor of a checkpoint, whole.
std::map<std::string, Tensor> read_all(const std::string& root, int64_t step) {
  std::map<std::string, Tensor> out;
  const std::string dir = root + "/" + checkpoint::step_dir_name(step);
  absl::StatusOr<checkpoint::CheckpointMeta> meta = checkpoint::read_metadata(dir);
  EXPECT_TRUE(meta.ok()) << meta.status();
  if (!meta.ok()) return out;
  for (const checkpoint::TensorRecord& t : meta->tensors()) {
    absl::StatusOr<DType> dt = checkpoint::dtype_from_name(t.dtype());
    EXPECT_TRUE(dt.ok()) << t.name();
    Tensor x = zeros(Shape(t.global_shape().begin(), t.global_shape().end()), *dt);
    const absl::Status s = checkpoint::load_tensor(dir, *meta, t.name(), {}, x);
    EXPECT_TRUE(s.ok()) << s;
    out.emplace(t.name(), x);
  }
  return out;
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const std::vector<double> va = a.to_vector(), vb = b.to_vector();
  for (size_t i = 0; i < va.size(); ++i)
    if (std::memcmp(&va[i], &vb[i], sizeof(double)) != 0) return false;
  return true;
}

// Names of the tensors that differ between two checkpoints (all of them
// when the name sets differ).
std::vector<std::string> differing(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  std::vector<std::string> out;
  EXPECT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    auto it = b.find(name);
    if (it == b.end() || !bitwise_equal(t, it->second)) out.push_back(name);
  }
  return out;
}

bool any_named(const std::vector<std::string>& names, const std::string& part) {
  for (const std::string& n : names)
    if (n.find(part) != std::string::npos) return true;
  return false;
}

void expect_all_finite(const std::string& root) {
  for (const std::string& dir : checkpoint::list_steps(root)) {
    EXPECT_TRUE(checkpoint::verify_checkpoint(dir).ok()) << dir;
    const int64_t step = std::stoll(dir.substr(dir.rfind('_') + 1));
    for (const auto& [name, t] : read_all(root, step))
      for (double v : t.to_vector()) ASSERT_TRUE(std::isfinite(v)) << dir << ": " << name;
  }
}

// The optimizer's step counter (AdamW's bias correction) in a checkpoint:
// every parameter's is the same.
int64_t adam_steps(const std::map<std::string, Tensor>& ck) {
  int64_t steps = -1;
  for (const auto& [name, t] : ck) {
    if (name.size() < 5 || name.compare(name.size() - 5, 5, ".step") != 0) continue;
    const int64_t v = int64_t(t.to_vector()[0]);
    if (steps >= 0) {
      EXPECT_EQ(v, steps) << name;
    }
    steps = v;
  }
  EXPECT_GE(steps, 0) << "no step counter";
  return steps;
}

// --- the pieces ---

TEST(StepGuardHook, ParsesRankStepRangeAndMode) {
  std::optional<NanInjection> n = parse_nan_injection("1:7");
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->rank, 1);
  EXPECT_TRUE(n->at(1, 7));
  EXPECT_FALSE(n->at(0, 7));
  EXPECT_FALSE(n->at(1, 8));
  EXPECT_FALSE(n->loss);
  n = parse_nan_injection("0:3-5:loss");
  ASSERT_TRUE(n.has_value());
  EXPECT_TRUE(n->loss);
  EXPECT_FALSE(n->at(0, 2));
  EXPECT_TRUE(n->at(0, 3) && n->at(0, 5));
  EXPECT_FALSE(n->at(0, 6));
  EXPECT_FALSE(parse_nan_injection(nullptr).has_value());
  for (const char* bad : {"", "3", "1:x", "1:5-3", "1:5:grad", "-1:4", "1:2-"})
    EXPECT_THROW(parse_nan_injection(bad), Error) << bad;
}

TEST(StepGuardUnit, CountsRunsOfSkipsAndStopsAtTheLimit) {
  if (test::test_world().size() != 1) GTEST_SKIP() << "one-rank test";
  config::OptimizerConfig o;
  o.set_max_skipped_steps(2);
  StepGuard g(o);
  comm::Communicator& w = test::test_world();
  EXPECT_FALSE(g.skip(w, 2.0, 1.0));
  EXPECT_TRUE(g.skip(w, 2.0, std::nan("")));
  EXPECT_FALSE(g.exhausted());
  EXPECT_FALSE(g.skip(w, 2.0, 1.0));  // an updated step ends the run of skips
  EXPECT_EQ(g.consecutive(), 0);
  EXPECT_TRUE(g.skip(w, INFINITY, 1.0));
  EXPECT_TRUE(g.skip(w, -INFINITY, 1.0));
  EXPECT_TRUE(g.exhausted());
  EXPECT_EQ(g.skipped(), 3);
  o.set_max_skipped_steps(0);
  StepGuard never(o);
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(never.skip(w, std::nan(""), 1.0));
  EXPECT_FALSE(never.exhausted());
}

TEST(StepGuardUnit, SpikeIsAFactorOverTheWindowMean) {
  config::OptimizerConfig o;
  o.set_loss_spike_factor(1.5);
  o.set_loss_spike_window(3);
  StepGuard g(o);
  EXPECT_FALSE(g.spike(2.0));  // nothing to compare with
  EXPECT_FALSE(g.spike(2.9));  // < 1.5 x 2
  std::optional<StepGuard::Spike> s = g.spike(100.0);  // a window not yet full: the mean of what there is
  ASSERT_TRUE(s.has_value());
  EXPECT_DOUBLE_EQ(s->mean, 2.45);
  EXPECT_EQ(s->over, 2);
  s = g.spike(70.0);  // > 1.5 x mean(2, 2.9, 100)
  ASSERT_TRUE(s.has_value());
  EXPECT_DOUBLE_EQ(s->mean, 104.9 / 3);
  EXPECT_EQ(s->over, 3);
  EXPECT_FALSE(g.spike(80.0));  // < 1.5 x mean(2.9, 100, 70) = 86.45: the oldest left the window
  o.set_loss_spike_factor(0);
  StepGuard off(o);
  for (double l : {1.0, 1.0, 1.0, 1e9}) EXPECT_FALSE(off.spike(l));
}

// --- in the training loop ---

const std::vector<std::string> kMuonClipFp8 = {"optim.kind=OPTIMIZER_MUON", "optim.muon.qk_clip_threshold=0.02",
                                               "model.fp8.recipe=FP8_PER_TENSOR_DELAYED",
                                               "model.fp8.amax_history_len=4"};

// A NaN at step k (steps = k + 1, a checkpoint after every step): the
// checkpoint after step k equals the one before it, tensor by tensor; the
// same run without the NaN changes every kind of state in that step.
void expect_skip_changes_nothing(const std::string& name, const std::string& spec, const std::vector<std::string>& more,
                                 int ep) {
  const int64_t k = 3;
  const std::string dir = fresh_dir(test_util::job_dir(name));
  std::vector<std::string> sets = {"steps=" + std::to_string(k + 1), "optim.schedule.warmup_steps=1",
                                   "checkpoint.every_steps=1", "checkpoint.keep_last=0",
                                   "parallel.ep=" + std::to_string(ep)};
  sets.insert(sets.end(), more.begin(), more.end());
  std::unique_ptr<parallel::Mesh> mesh = mesh_for_world(ep);
  const TrainResult clean = run_ok(test_util::small_run("tiny_moe_sigmoid_bias.pbtxt", dir + "/clean", sets), mesh.get());
  TrainResult nan;
  {
    InjectNan inject(spec);
    nan = run_ok(test_util::small_run("tiny_moe_sigmoid_bias.pbtxt", dir + "/nan", sets), mesh.get());
  }
  EXPECT_EQ(nan.steps_done, k + 1);
  EXPECT_EQ(nan.skipped_steps, std::vector<int64_t>{k});
  EXPECT_TRUE(clean.skipped_steps.empty());
  ASSERT_EQ(nan.train_losses.size(), size_t(k + 1));
  for (int64_t s = 0; s < k; ++s) EXPECT_EQ(nan.train_losses[size_t(s)], clean.train_losses[size_t(s)]) << s;
  const std::string root = dir + "/nan/checkpoints", clean_root = dir + "/clean/checkpoints";
  const std::map<std::string, Tensor> before = read_all(root, k), after = read_all(root, k + 1);
  EXPECT_EQ(differing(before, after), std::vector<std::string>{}) << "the skipped step changed the state";
  EXPECT_EQ(adam_steps(after), k);
  EXPECT_EQ(differing(before, read_all(clean_root, k)), std::vector<std::string>{});
  // The clean run's step k changes each kind of state the guard must hold.
  const std::vector<std::string> changed = differing(before, read_all(clean_root, k + 1));
  EXPECT_TRUE(any_named(changed, "attn.wq.weight")) << "parameters";
  EXPECT_TRUE(any_named(changed, ".exp_avg")) << "moments";
  EXPECT_TRUE(any_named(changed, ".step")) << "step counters";
  EXPECT_TRUE(any_named(changed, "router.selection_bias")) << "selection biases";
  if (!more.empty()) {
    EXPECT_TRUE(any_named(changed, "fp8_amax_history")) << "FP8 histories";
  }
  expect_all_finite(root);
}

TEST(StepGuard, NanGradientsChangeNothing) {
  if (test::test_world().size() != 1) GTEST_SKIP() << "one-rank test";
  expect_skip_changes_nothing("guard_grad", "0:3", {}, 1);
}

// A NaN loss with finite gradients: the loss alone decides. Muon with
// QK-Clip and delayed FP8 scaling, whose updates must all be held back.
TEST(StepGuard, NanLossChangesNothingWithQkClipAndFp8) {
  if (test::test_world().size() != 1) GTEST_SKIP() << "one-rank test";
  expect_skip_changes_nothing("guard_loss", "0:3:loss", kMuonClipFp8, 1);
}

TEST(MpiStepGuard, NanGradientsOnRankOneSkipOnBothRanks) {
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 2);
  expect_skip_changes_nothing("guard_grad_np2", "1:3", {}, 2);
}

TEST(MpiStepGuard, NanLossOnRankOneSkipsOnBothRanks) {
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 2);
  expect_skip_changes_nothing("guard_loss_np2", "1:3:loss", kMuonClipFp8, 2);
}

// After a skip, the run goes on from the unchanged state with the next
// batch: the uninterrupted run equals one stopped right after the skipped
// step (its checkpoint = the state before the skip) and resumed, bitwise,
// whichever way the NaN came; and it differs from the run without the NaN.
TEST(StepGuard, TrainingContinuesFromTheStateBeforeTheSkip) {
  if (test::test_world().size() != 1) GTEST_SKIP() << "one-rank test";
  const std::string dir = fresh_dir(test_util::rank_dir("guard_continue"));
  const std::vector<std::string> sets = {"steps=8", "optim.schedule.warmup_steps=1"};
  const TrainResult clean = run_ok(test_util::small_run("tiny_moe_sigmoid_bias.pbtxt", dir + "/clean", sets), nullptr);
  TrainResult whole, whole_loss, first, second;
  {
    InjectNan inject("0:3");
    whole = run_ok(test_util::small_run("tiny_moe_sigmoid_bias.pbtxt", dir + "/whole", sets), nullptr);
    config::TrainConfig part = test_util::small_run("tiny_moe_sigmoid_bias.pbtxt", dir + "/part", sets);
    first = run_ok(part, nullptr, 4);  // stopped after the skipped step 3: saves the state before it
    part.mutable_checkpoint()->set_resume_from("latest");
    second = run_ok(part, nullptr);
  }
  {
    InjectNan inject("0:3:loss");
    whole_loss = run_ok(test_util::small_run("tiny_moe_sigmoid_bias.pbtxt", dir + "/loss", sets), nullptr);
  }
  ASSERT_EQ(whole.train_losses.size(), 8u);
  ASSERT_EQ(whole_loss.train_losses.size(), 8u);
  ASSERT_EQ(first.steps_done, 4);
  EXPECT_EQ(first.skipped_steps, std::vector<int64_t>{3});
  ASSERT_EQ(second.train_losses.size(), 4u);
  EXPECT_EQ(whole.train_losses[3], clean.train_losses[3]);  // NaN gradients, finite loss
  EXPECT_TRUE(std::isnan(whole_loss.train_losses[3]));
  for (size_t i = 4; i < 8; ++i) {
    EXPECT_TRUE(std::isfinite(whole.train_losses[i])) << i;
    EXPECT_EQ(whole.train_losses[i], second.train_losses[i - 4]) << "step " << i << " after the resume";
    EXPECT_EQ(whole.train_losses[i], whole_loss.train_losses[i]) << "step " << i;
  }
  EXPECT_NE(whole.train_losses[4], clean.train_losses[4]);
  const std::map<std::string, Tensor> end = read_all(dir + "/whole/checkpoints", 8);
  EXPECT_EQ(adam_steps(end), 7);  // 8 steps, one skipped
}

// NaN at steps 3..5: three skips in a row stop a run whose limit is 3 at
// step 5, with no checkpoint after the last updated step; a limit of 4 lets
// it finish; 0 never stops.
void expect_limit(int ep) {
  const std::string dir = fresh_dir(test_util::job_dir("guard_limit"));
  std::unique_ptr<parallel::Mesh> mesh = mesh_for_world(ep);
  const std::string rank = std::to_string(test::test_world().size() - 1);
  auto cfg = [&](const std::string& name, int64_t limit) {
    return test_util::small_run("tiny_moe_sigmoid_bias.pbtxt", dir + "/" + name,
                                {"steps=9", "optim.schedule.warmup_steps=1", "checkpoint.every_steps=1",
                                 "checkpoint.keep_last=0", "optim.max_skipped_steps=" + std::to_string(limit),
                                 "parallel.ep=" + std::to_string(ep)});
  };
  InjectNan inject(rank + ":3-5");
  absl::StatusOr<TrainResult> stopped = run(cfg("three", 3), mesh.get());
  ASSERT_FALSE(stopped.ok());
  const std::string msg(stopped.status().message());
  EXPECT_NE(msg.find("diverged at step 5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("3 steps in a row"), std::string::npos) << msg;
  EXPECT_NE(msg.find("optim.max_skipped_steps = 3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("gradient norm nan"), std::string::npos) << msg;
  const std::string root = dir + "/three/checkpoints";
  const std::vector<std::string> steps = checkpoint::list_steps(root);
  ASSERT_FALSE(steps.empty());
  EXPECT_EQ(steps.back(), root + "/" + checkpoint::step_dir_name(3)) << "a checkpoint after the skips";
  absl::StatusOr<std::string> latest = checkpoint::resolve(root, "latest");
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(*latest, root + "/" + checkpoint::step_dir_name(3));
  expect_all_finite(root);

  const TrainResult four = run_ok(cfg("four", 4), mesh.get());
  EXPECT_EQ(four.steps_done, 9);
  EXPECT_EQ(four.skipped_steps, (std::vector<int64_t>{3, 4, 5}));
  // The periodic saves due during the skips waited for step 6's update.
  const std::vector<std::string> saved = checkpoint::list_steps(dir + "/four/checkpoints");
  std::vector<std::string> want;
  for (int64_t s : {1, 2, 3, 7, 8, 9}) want.push_back(dir + "/four/checkpoints/" + checkpoint::step_dir_name(s));
  EXPECT_EQ(saved, want);
  EXPECT_EQ(adam_steps(read_all(dir + "/four/checkpoints", 9)), 6);
  const TrainResult never = run_ok(cfg("never", 0), mesh.get());
  EXPECT_EQ(never.skipped_steps.size(), 3u);
}

TEST(StepGuard, MaxSkippedStepsInARowStopsTheRun) {
  if (test::test_world().size() != 1) GTEST_SKIP() << "one-rank test";
  expect_limit(1);
}

TEST(MpiStepGuard, MaxSkippedStepsStopsBothRanks) {
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 2);
  expect_limit(2);
}

// metrics.jsonl: every line counts the skips, the skipped step has a line
// of its own (off the log_every cadence) that says so, with a null for its
// non-finite gradient norm; each loss spike is an event, and the spikes are
// exactly the updated steps whose loss exceeds the factor x the mean of the
// previous (up to) window updated steps' losses.
TEST(StepGuard, MetricsRecordSkipsAndSpikes) {
  if (test::test_world().size() != 1) GTEST_SKIP() << "one-rank test";
  const std::string dir = fresh_dir(test_util::rank_dir("guard_metrics"));
  const double factor = 1.002;
  const int64_t window = 2;
  config::TrainConfig cfg = test_util::small_run(
      "tiny_moe.pbtxt", dir, {"steps=30", "optim.schedule.warmup_steps=1", "log_every=10", "checkpoint.save=false",
                              "optim.lr=3e-2", "optim.loss_spike_factor=1.002", "optim.loss_spike_window=2"});
  TrainResult r;
  {
    InjectNan inject("0:13");
    r = run_ok(cfg, nullptr, 0, /*quiet=*/false);
  }
  ASSERT_EQ(r.train_losses.size(), 30u);
  EXPECT_EQ(r.skipped_steps, std::vector<int64_t>{13});
  std::vector<int64_t> want_spikes;
  std::deque<double> recent;
  for (int64_t s = 0; s < 30; ++s) {
    if (s == 13) continue;
    const double l = r.train_losses[size_t(s)];
    if (!recent.empty()) {
      const double mean = std::accumulate(recent.begin(), recent.end(), 0.0) / double(recent.size());
      if (l > factor * mean) want_spikes.push_back(s);
    }
    if (int64_t(recent.size()) == window) recent.pop_front();
    recent.push_back(l);
  }
  ASSERT_FALSE(want_spikes.empty()) << "the case must have spikes to mean anything";
  EXPECT_EQ(r.loss_spikes, want_spikes);

  std::ifstream in(dir + "/metrics.jsonl");
  std::string line;
  std::vector<int64_t> step_lines, event_spikes;
  while (std::getline(in, line)) {
    long long step = -1;
    ASSERT_EQ(std::sscanf(line.c_str(), "{\"step\": %lld", &step), 1) << line;
    if (line.find("\"event\": \"loss_spike\"") != std::string::npos) {
      event_spikes.push_back(step);
      continue;
    }
    step_lines.push_back(step);
    const bool skipped = step == 13;
    EXPECT_NE(line.find(skipped || step > 13 ? "\"skipped\": 1" : "\"skipped\": 0"), std::string::npos) << line;
    EXPECT_EQ(line.find("\"step_skipped\": true") != std::string::npos, skipped) << line;
    if (skipped) {
      EXPECT_NE(line.find("\"grad_norm\": null"), std::string::npos) << line;
    }
  }
  EXPECT_EQ(step_lines, (std::vector<int64_t>{0, 10, 13, 20, 29}));
  EXPECT_EQ(event_spikes, want_spikes);
}

}  // namespace
}  // namespace moe::launch
