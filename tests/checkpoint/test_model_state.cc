// The real model and optimizer through the plan helpers: every parameter,
// buffer (router selection biases) and optimizer state tensor of a tiny MoE
// comes back bit for bit into a freshly built model and optimizer.
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

TrainState make_run(uint64_t seed) {
  absl::StatusOr<config::ModelConfig> c = model::model_preset("tiny-moe-sigmoid-bias");
  EXPECT_TRUE(c.ok()) << c.status();
  c->set_init_seed(seed);
  TrainState r;
  r.model = std::make_unique<model::Transformer>(*c);
  std::vector<optim::NamedParam> ps;
  for (const model::Named& n : r.model->named_parameters()) ps.push_back({n.name, n.tensor});
  config::OptimizerConfig oc;
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

TEST(CheckpointModelState, TinyMoeParametersBuffersAndAdamStateRoundTrip) {
  TrainState a = make_run(1);
  ASSERT_FALSE(a.model->named_buffers().empty());  // the selection biases
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
  ASSERT_TRUE(st.ok()) << st.status();
  for (SaveTensor& t : *st) ts.push_back(std::move(t));
  const std::string root = testing::temp_root();
  absl::StatusOr<SaveReport> rep = save_checkpoint(test::test_world(), root, 1, ts, {});
  ASSERT_TRUE(rep.ok()) << rep.status();

  TrainState b = make_run(2);  // other initial weights, fresh optimizer state
  absl::StatusOr<CheckpointMeta> meta = read_metadata(rep->step_dir);
  ASSERT_TRUE(meta.ok());
  for (const model::Named& n : b.model->named_parameters()) {
    Tensor t = n.tensor;
    ASSERT_TRUE(load_tensor(rep->step_dir, *meta, n.name, n.shard, t).ok()) << n.name;
  }
  for (const model::Named& n : b.model->named_buffers()) {
    Tensor t = n.tensor;
    ASSERT_TRUE(load_tensor(rep->step_dir, *meta, n.name, n.shard, t).ok()) << n.name;
  }
  ASSERT_TRUE(load_state_tensors(rep->step_dir, *meta, b.opt->state(), param_shards(b.model->named_parameters())).ok());

  const auto ea = everything(a), eb = everything(b);
  ASSERT_EQ(ea.size(), eb.size());
  for (size_t i = 0; i < ea.size(); ++i) {
    EXPECT_EQ(ea[i].first, eb[i].first);
    EXPECT_TRUE(testing::bitwise_equal(ea[i].second.detach(), eb[i].second.detach())) << ea[i].first;
  }
}

}  // namespace
}  // namespace moe::checkpoint
