// The real model and optimizer through the plan helpers: every parameter,
// buffer (router selection biases) and optimizer state tensor of a tiny MoE
// comes back bit for bit into a freshly built model and optimizer, with f32
// or bf16 moments (bf16 datasets in the HDF5 slice files); moments saved in
// one dtype load into an optimizer of the other, converted.
#include "checkpoint/checkpoint.h"
#include "checkpoint/plan.h"
#include "core/ops.h"
#include "model/presets.h"
#include "model/transformer.h"
#include "optim/optimizer.h"
#include "tests/checkpoint/ckpt_test_util.h"
#include "tests/mpi_test_util.h"

namespace moe::checkpoint {
namespace {

struct TrainState {
  std::unique_ptr<model::Transformer> model;
  std::unique_ptr<optim::Optimizer> opt;
};

TrainState make_run(uint64_t seed, config::MomentDtype moments = config::MOMENT_FP32) {
  absl::StatusOr<config::ModelConfig> c = model::model_preset("tiny-moe-sigmoid-bias");
  EXPECT_TRUE(c.ok()) << c.status();
  c->set_init_seed(seed);
  TrainState r;
  r.model = std::make_unique<model::Transformer>(*c);
  std::vector<optim::NamedParam> ps;
  for (const model::Named& n : r.model->named_parameters()) ps.push_back({n.name, n.tensor});
  config::OptimizerConfig oc;
  oc.set_moment_dtype(moments);
  r.opt = optim::make_optimizer(oc, ps);
  return r;
}

std::vector<std::pair<std::string, Tensor>> everything(const TrainState& r) {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const model::Named& n : r.model->named_parameters()) out.emplace_back(n.name, n.tensor);
  for (const model::Named& n : r.model->named_buffers()) out.emplace_back(n.name, n.tensor);
  for (const auto& s : r.opt->state()) out.push_back(s);
  return out;
}

// One step of `a`, random buffers, then a checkpoint of it all; returns the step directory.
std::string step_and_save(TrainState& a) {
  EXPECT_FALSE(a.model->named_buffers().empty());  // the selection biases
  uint64_t k = 0;
  for (const model::Named& n : a.model->named_parameters()) {
    Tensor p = n.tensor;
    p.set_grad(randn(p.shape(), 5, k++));
  }
  a.opt->step(1e-3);
  for (const model::Named& n : a.model->named_buffers()) {
    Tensor b = n.tensor;
    copy_(b, randn(b.shape(), 9, k++, b.dtype()));
  }

  const Place here = Place::of(nullptr);
  std::vector<SaveTensor> ts = model_save_tensors(a.model->named_parameters(), here);
  for (SaveTensor& t : model_save_tensors(a.model->named_buffers(), here)) ts.push_back(std::move(t));
  const std::vector<ParamShard> shards = param_shards(a.model->named_parameters());
  absl::StatusOr<std::vector<SaveTensor>> st = state_save_tensors(a.opt->state(), shards, here, /*zero1=*/false);
  EXPECT_TRUE(st.ok()) << st.status();
  if (!st.ok()) return "";
  for (SaveTensor& t : *st) ts.push_back(std::move(t));
  absl::StatusOr<SaveReport> rep = save_checkpoint(test::test_world(), testing::temp_root(), 1, ts, {});
  EXPECT_TRUE(rep.ok()) << rep.status();
  return rep.ok() ? rep->step_dir : "";
}

// Loads everything saved into `b`.
void load_all(const std::string& step_dir, TrainState& b) {
  absl::StatusOr<CheckpointMeta> meta = read_metadata(step_dir);
  ASSERT_TRUE(meta.ok());
  for (const model::Named& n : b.model->named_parameters()) {
    Tensor t = n.tensor;
    ASSERT_TRUE(load_tensor(step_dir, *meta, n.name, n.shard, t).ok()) << n.name;
  }
  for (const model::Named& n : b.model->named_buffers()) {
    Tensor t = n.tensor;
    ASSERT_TRUE(load_tensor(step_dir, *meta, n.name, n.shard, t).ok()) << n.name;
  }
  const absl::Status s = load_state_tensors(step_dir, *meta, b.opt->state(), param_shards(b.model->named_parameters()));
  ASSERT_TRUE(s.ok()) << s;
}

class CheckpointModelState : public ::testing::TestWithParam<config::MomentDtype> {};

TEST_P(CheckpointModelState, TinyMoeParametersBuffersAndAdamStateRoundTrip) {
  TrainState a = make_run(1, GetParam());
  const std::string dir = step_and_save(a);
  ASSERT_FALSE(dir.empty());
  TrainState b = make_run(2, GetParam());  // other initial weights, fresh optimizer state
  load_all(dir, b);
  absl::StatusOr<CheckpointMeta> meta = read_metadata(dir);
  ASSERT_TRUE(meta.ok());
  const TensorRecord* m = find_tensor(*meta, "layers.0.ffn.experts.w1.exp_avg");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->dtype(), GetParam() == config::MOMENT_BF16 ? "bf16" : "f32");
  // 2 or 4 bytes per element in the file.
  int64_t numel = 0;
  for (const model::Named& n : b.model->named_parameters())
    if (n.name == "layers.0.ffn.experts.w1") numel = n.tensor.numel();
  ASSERT_GT(numel, 0);
  EXPECT_EQ(m->slices(0).bytes(), numel * (GetParam() == config::MOMENT_BF16 ? 2 : 4));

  const auto ea = everything(a), eb = everything(b);
  ASSERT_EQ(ea.size(), eb.size());
  for (size_t i = 0; i < ea.size(); ++i) {
    EXPECT_EQ(ea[i].first, eb[i].first);
    EXPECT_TRUE(testing::bitwise_equal(ea[i].second.detach(), eb[i].second.detach())) << ea[i].first;
  }
}

INSTANTIATE_TEST_SUITE_P(Moments, CheckpointModelState,
                         ::testing::Values(config::MOMENT_FP32, config::MOMENT_BF16));

// optim.moment_dtype changed between save and resume: f32 moments load into
// bf16 ones rounded to nearest even, bf16 into f32 exactly.
TEST(CheckpointMomentDtype, ConvertsOnLoad) {
  for (auto [from, to] : {std::pair{config::MOMENT_FP32, config::MOMENT_BF16},
                          std::pair{config::MOMENT_BF16, config::MOMENT_FP32}}) {
    SCOPED_TRACE(config::MomentDtype_Name(from) + " -> " + config::MomentDtype_Name(to));
    TrainState a = make_run(1, from);
    const std::string dir = step_and_save(a);
    ASSERT_FALSE(dir.empty());
    TrainState b = make_run(2, to);
    load_all(dir, b);
    const auto sa = a.opt->state(), sb = b.opt->state();
    ASSERT_EQ(sa.size(), sb.size());
    int moments = 0;
    for (size_t i = 0; i < sa.size(); ++i) {
      const Tensor want = sa[i].second.to(sb[i].second.dtype());  // the conversion of the saved tensor
      EXPECT_TRUE(testing::bitwise_equal(sb[i].second, want)) << sa[i].first;
      moments += sa[i].second.dtype() != sb[i].second.dtype();
    }
    EXPECT_GT(moments, 0);
  }
}

}  // namespace
}  // namespace moe::checkpoint
