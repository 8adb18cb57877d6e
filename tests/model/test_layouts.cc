// Layout equivalence: every parallel layout (DP, TP with sequence
// parallelism, EP, their products, device-limited routing) gives the loss
// and every gradient of one rank running the same global batch from the
// same initial weights. The reference runs in-process on each rank.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

#include "comm/collectives.h"
#include "comm/nccl_communicator.h"
#include "core/cuda/runtime.h"
#include "core/ops.h"
#include "model/transformer.h"
#include "parallel/grad_sync.h"
#include "tests/mpi_test_util.h"

namespace moe::model {
namespace {

config::ModelConfig base_config(config::AttentionKind kind = config::ATTENTION_GQA) {
  config::ModelConfig c;
  c.set_vocab_size(64);
  c.set_d_model(32);
  c.set_n_layers(3);
  c.set_n_heads(4);
  c.set_n_kv_heads(2);
  c.set_max_seq_len(16);
  c.set_ffn_dim(48);
  c.set_init_std(0.2);
  c.set_attention(kind);
  c.set_first_k_dense(1);
  auto* mla = c.mutable_mla();
  mla->set_q_lora_rank(12);
  mla->set_kv_lora_rank(8);
  mla->set_qk_nope_head_dim(6);
  mla->set_qk_rope_head_dim(4);
  mla->set_v_head_dim(6);
  auto* m = c.mutable_moe();
  m->set_num_routed_experts(8);
  m->set_num_shared_experts(1);
  m->set_expert_ffn_dim(16);
  m->set_top_k(3);
  m->set_num_groups(4);
  m->set_top_k_groups(2);
  // Every aux term on, so that their parallel shares are checked too.
  m->set_expert_balance_coef(0.05);
  m->set_device_balance_coef(0.03);
  m->set_comm_balance_coef(0.02);
  m->set_sequence_balance_coef(0.04);
  m->set_z_loss_coef(0.01);
  return c;
}

constexpr int64_t kBatch = 4, kSeq = 8;

Tensor tokens(int64_t vocab, uint64_t salt, int64_t batch = kBatch, int64_t seq = kSeq) {
  std::vector<double> v(size_t(batch * seq));
  for (size_t i = 0; i < v.size(); ++i) v[i] = double((i * 37 + salt * 11 + (i * i) % 7) % uint64_t(vocab));
  return from_vector(v, {batch, seq}, DType::i64);
}

struct Result {
  double lm = 0, total = 0;
  std::map<std::string, Tensor> grads;  // global gradients by name
  int64_t dropped = 0;                  // assignments dropped (reference only)
};

Result single_rank(const config::ModelConfig& c, const Tensor& ids, const Tensor& tgt) {
  Transformer m(c);
  BatchInfo info;
  info.seed = 7;
  const LossParts p = m.loss(ids, tgt, info);
  p.total.backward();
  Result r{p.lm.item(), p.total.item(), {}};
  for (const Named& n : m.named_parameters()) r.grads[n.name] = n.tensor.grad();
  for (MoeLayer* l : m.moe_layers()) r.dropped += l->stats().dropped;
  return r;
}

// The global tensor of a parameter slice (gathered over its shard group).
Tensor gather_global(parallel::Mesh& mesh, const Named& p, const Tensor& local) {
  if (p.shard.dim < 0) return local;
  comm::Communicator& g = p.shard.cls == parallel::ParamClass::expert ? mesh.ep() : mesh.tp();
  return g.all_gather(local, p.shard.dim);
}

// On a CUDA device (cuda = true) the groups are NCCL's (the SIM build's
// NCCL shim), the model and batch live on the device, and the gathered
// gradients come back to the host for the comparison.
Result parallel_run(const config::ModelConfig& c, int tp, int ep, const Tensor& ids, const Tensor& tgt,
                    bool cuda = false, bool overlap_dispatch = true) {
  comm::Communicator& world = test::test_world();
  std::unique_ptr<comm::Communicator> group = world.split(0, world.rank(), "world");
  if (cuda) group = comm::nccl_communicator(std::move(group), 0);
  parallel::Mesh mesh(std::move(group), tp, ep);
  Layout layout{&mesh};
  layout.overlap_dispatch = overlap_dispatch;
  Transformer m(c, layout);
  const Device dev = cuda ? Device::cuda(0) : Device::cpu();
  if (cuda) m.to_device(dev);
  const int64_t dp = mesh.sizes().dp(), per = ids.size(0) / dp, first = mesh.dp_rank() * per;
  BatchInfo info;
  info.seed = 7;
  for (int64_t i = 0; i < per; ++i) info.global_sequence.push_back(first + i);
  const LossParts p =
      m.loss(to_device(narrow(ids, 0, first, per), dev), to_device(narrow(tgt, 0, first, per), dev), info);
  p.total.backward();
  std::vector<parallel::ClassedParam> params;
  for (const Named& n : m.named_parameters()) params.push_back({n.name, n.tensor, n.shard.cls});
  parallel::GradSync sync(mesh, params, {int64_t(1) << 20, false});
  sync.finish();
  // lm and MTP: the same on TP ranks, mean over DP; aux: shares, sum over
  // world / DP (launch/step_stats.h).
  const double aux = p.aux.total().defined() ? p.aux.total().item() : 0.0;
  const double mtp = p.mtp.defined() ? p.mtp.item() : 0.0;
  const std::vector<double> means =
      comm::all_reduce_values(world, std::vector<double>{p.lm.item(), mtp}, comm::ReduceOp::avg);
  const std::vector<double> ax = comm::all_reduce_values(world, std::vector<double>{aux}, comm::ReduceOp::sum);
  Result r{means[0], means[0] + means[1] + ax[0] / double(dp), {}};
  for (const Named& n : m.named_parameters()) r.grads[n.name] = host_copy(gather_global(mesh, n, n.tensor.grad()));
  return r;
}

// rel bounds the losses; grad_rel (default rel) each gradient's max |diff|
// against its max |grad|.
void expect_same(const Result& ref, const Result& got, double rel, double grad_rel = -1) {
  if (grad_rel < 0) grad_rel = rel;
  EXPECT_NEAR(got.lm, ref.lm, rel * std::abs(ref.lm));
  EXPECT_NEAR(got.total, ref.total, rel * std::abs(ref.total));
  ASSERT_EQ(got.grads.size(), ref.grads.size());
  for (const auto& [name, g] : ref.grads) {
    ASSERT_TRUE(got.grads.count(name)) << name;
    const Tensor& h = got.grads.at(name);
    ASSERT_TRUE(g.defined() && h.defined()) << name;
    ASSERT_EQ(g.shape(), h.shape()) << name;
    const double scale = amax(abs(g)).item(), diff = amax(abs(sub(g, h))).item();
    EXPECT_LE(diff, grad_rel * scale + 1e-9) << name << ": max |diff| " << diff << " vs max |grad| " << scale;
  }
}

void check_layout(const config::ModelConfig& c, int tp, int ep, int64_t batch = kBatch, int64_t seq = kSeq,
                  double grad_rel = 1e-5, bool cuda = false) {
  const Tensor ids = tokens(c.vocab_size(), 1, batch, seq), tgt = tokens(c.vocab_size(), 2, batch, seq);
  const Result ref = single_rank(c, ids, tgt);
  if (c.moe().drop_policy() != config::DROP_NONE) {
    EXPECT_GT(ref.dropped, 0) << "the case must drop to mean anything";
  }
  const Result got = parallel_run(c, tp, ep, ids, tgt, cuda);
  expect_same(ref, got, 1e-5, grad_rel);
}

TEST(MpiLayouts, DataParallel) {
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 2 || MOE_WORLD_SIZE == 4);
  check_layout(base_config(), 1, 1);
}
TEST(MpiLayouts, TensorParallel) {
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 2);
  check_layout(base_config(), 2, 1);
}
TEST(MpiLayouts, TensorParallelMla) {
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 2);
  check_layout(base_config(config::ATTENTION_MLA), 2, 1);
}
TEST(MpiLayouts, TensorParallelQkNorm) {
  // q_norm / k_norm are replicated while their heads are split: each TP
  // rank holds part of their gradient.
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 2 || MOE_WORLD_SIZE == 4);
  config::ModelConfig c = base_config();
  c.set_qk_norm(true);
  check_layout(c, 2, 1);
}
TEST(MpiLayouts, ExpertParallel) {
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 2 || MOE_WORLD_SIZE == 4);
  check_layout(base_config(), 1, MOE_WORLD_SIZE);
}
TEST(MpiLayouts, DataTimesTensorParallel) {
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 4);
  check_layout(base_config(), 2, 1);
}
TEST(MpiLayouts, TensorParallelWithFoldedExpertParallel) {
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 4);
  check_layout(base_config(), 2, 4);
}
TEST(MpiLayouts, TensorAndExpertParallel) {
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 4);
  check_layout(base_config(), 2, 2);
}
TEST(MpiLayouts, ExpertParallelDeviceLimitedOneDevice) {
  // EP2 with M = 1 against one rank with G = 2, M = 1.
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 2);
  config::ModelConfig c = base_config();
  c.mutable_moe()->set_num_groups(2);
  c.mutable_moe()->set_top_k_groups(1);
  check_layout(c, 1, 2);
}
TEST(MpiLayouts, DropoutUnderSequenceParallelism) {
  // Sequence-keyed dropout masks: a TP rank's positions of the full mask.
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 2 || MOE_WORLD_SIZE == 4);
  config::ModelConfig c = base_config();
  c.set_dropout(0.2);
  check_layout(c, 2, 1);
}
TEST(MpiLayouts, ExpertParallelWithMtpAndSigmoidRouter) {
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 2 || MOE_WORLD_SIZE == 4);
  config::ModelConfig c = base_config();
  c.mutable_mtp()->set_depth(1);
  c.mutable_mtp()->set_weight(0.3);
  c.mutable_moe()->set_score_function(config::SCORE_SIGMOID);
  c.mutable_moe()->set_normalize_top_k(true);
  c.mutable_moe()->set_routed_scaling_factor(2.5);
  c.mutable_moe()->set_group_score(config::GROUP_SCORE_TOPN_SUM);
  check_layout(c, 1, MOE_WORLD_SIZE);
}
// FP8 dispatch: the EP all-to-all carries E4M3 codes + 1x128 tile scales and
// one rank applies the same quantise-dequantise, so EP gives one rank's
// loss and gradients. d_model 160: two tiles per row, one of them ragged.
TEST(MpiLayouts, ExpertParallelFp8Dispatch) {
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 2 || MOE_WORLD_SIZE == 4);
  config::ModelConfig c = base_config();
  c.set_d_model(160);
  // One MoE layer, after the dense one. A quantiser turns the f32 order
  // differences of a layout (about 1e-6 here) into E4M3 code flips wherever
  // its input already carries them, and a second MoE layer's input carries
  // the first one's EP sums: with it the gradients differ by 7e-6 or 1.5e-5
  // depending on the rounding of unrelated kernels (attention). With one,
  // 3e-6 at EP4 and TP2 x EP2.
  c.set_n_layers(2);
  c.mutable_fp8()->set_dispatch(true);
  check_layout(c, 1, MOE_WORLD_SIZE);
  if (MOE_WORLD_SIZE == 4) check_layout(c, 2, 2);
  // The quantisation is on: without it one rank's loss moves by 6.3e-5
  // relative (6.80540 vs 6.80583), several times the tolerance above.
  config::ModelConfig off = c;
  off.mutable_fp8()->set_dispatch(false);
  const Tensor ids = tokens(c.vocab_size(), 1), tgt = tokens(c.vocab_size(), 2);
  const double on_lm = single_rank(c, ids, tgt).lm, off_lm = single_rank(off, ids, tgt).lm;
  EXPECT_GT(std::abs(on_lm - off_lm), 3e-5 * std::abs(off_lm)) << on_lm << " vs " << off_lm;
}
// FP8 GEMMs with DeepSeek-V3 tile-wise scaling (attention projections, the
// dense MLP, routed and shared experts; every pass): scales are per token
// (1x128 along channels), per 128x128 weight block and, in the weight-
// gradient GEMM, per 128 tokens of a channel. Those token tiles are one
// rank's when every rank holds a multiple of 128 of the GEMM's tokens: for
// the dense GEMMs, 128 tokens per DP rank; for a routed expert, its rows
// must not be split over EDP replicas, i.e. EP = world (EP over the whole
// world gives each expert one rank's rows in one rank's order). Then DP and
// EP give one rank's loss, and its gradients up to the FP8 rounding flips
// that f32 summation order causes (below).
// 8 x 64 tokens: 256 per rank at DP2, 128 at DP4.
config::ModelConfig fp8_tilewise() {
  config::ModelConfig c = base_config();
  c.set_max_seq_len(64);
  c.mutable_fp8()->set_recipe(config::FP8_TILEWISE);
  return c;
}
TEST(MpiLayouts, Fp8TileWiseDataAndExpertParallel) {
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 2 || MOE_WORLD_SIZE == 4);
  config::ModelConfig dense_only = fp8_tilewise();  // DP: each rank runs every expert on its own rows
  dense_only.mutable_fp8()->set_experts(false);
  // The losses agree to 1e-5. The gradients carry a few isolated FP8
  // rounding flips: a value that the layouts' f32 reassociation moves across
  // an E4M3/E5M2 rounding boundary changes by a whole FP8 step, and its
  // token's share of every weight gradient downstream with it (measured up
  // to 2e-3 of max |grad|, mostly 1e-4). A wrong tile or scale changes the
  // forward's quantization, which the losses' 1e-5 catches.
  constexpr double kFp8Flips = 5e-3;
  check_layout(dense_only, 1, 1, 8, 64, kFp8Flips);
  check_layout(fp8_tilewise(), 1, MOE_WORLD_SIZE, 8, 64, kFp8Flips);
  // With FP8 dispatch the experts' fprop multiplies the arrived codes.
  config::ModelConfig wire = fp8_tilewise();
  wire.mutable_fp8()->set_dispatch(true);
  check_layout(wire, 1, MOE_WORLD_SIZE, 8, 64, kFp8Flips);
  // FP8 is on: one rank's loss moves against f32 by far more than the
  // tolerance above.
  config::ModelConfig f32 = fp8_tilewise();
  f32.mutable_fp8()->set_recipe(config::FP8_OFF);
  const Tensor ids = tokens(f32.vocab_size(), 1, 8, 64), tgt = tokens(f32.vocab_size(), 2, 8, 64);
  const double on = single_rank(fp8_tilewise(), ids, tgt).lm, off = single_rank(f32, ids, tgt).lm;
  EXPECT_GT(std::abs(on - off), 1e-4 * std::abs(off)) << on << " vs " << off;
}
// Dropping under sequence parallelism: the decision covers the DP replica's
// micro-batch (per expert) or the tp_ep block's tokens (per device), so it
// equals one rank's whenever one DP replica holds the batch, or the block
// spans the world.
config::ModelConfig dropping(config::DropPolicy policy, int64_t groups, int64_t top_groups) {
  config::ModelConfig c = base_config();
  c.mutable_moe()->set_drop_policy(policy);
  c.mutable_moe()->set_capacity_factor(1.0);
  c.mutable_moe()->set_protected_sequence_fraction(0.25);
  c.mutable_moe()->set_num_groups(groups);
  c.mutable_moe()->set_top_k_groups(top_groups);
  return c;
}
TEST(MpiLayouts, ExpertCapacityUnderTensorParallelism) {
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 2);
  check_layout(dropping(config::DROP_EXPERT_CAPACITY, 4, 2), 2, 1);
  check_layout(dropping(config::DROP_EXPERT_CAPACITY, 4, 2), 2, 2);
}
TEST(MpiLayouts, DeviceBudgetUnderTensorParallelism) {
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 2 || MOE_WORLD_SIZE == 4);
  if (MOE_WORLD_SIZE == 2) {
    check_layout(dropping(config::DROP_DEVICE_BUDGET, 4, 2), 2, 1);
    check_layout(dropping(config::DROP_DEVICE_BUDGET, 2, 1), 2, 2);
  } else {
    check_layout(dropping(config::DROP_DEVICE_BUDGET, 4, 2), 2, 4);  // the block is the world
  }
}
TEST(MpiLayouts, MicroBatchScopeBalanceLosses) {
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 2 || MOE_WORLD_SIZE == 4);
  config::ModelConfig c = base_config();
  c.mutable_moe()->set_balance_scope(config::BALANCE_PER_MICRO_BATCH);
  check_layout(c, 1, 2);
  if (MOE_WORLD_SIZE == 4) check_layout(c, 2, 2);
}

// The overlapped dispatch (shared experts computed while the tokens travel)
// gives the blocking one's loss and gradients bit for bit, with and without
// TP, and on the device.
void expect_bitwise(const Result& a, const Result& b) {
  EXPECT_EQ(a.lm, b.lm);
  EXPECT_EQ(a.total, b.total);
  ASSERT_EQ(a.grads.size(), b.grads.size());
  for (const auto& [name, g] : a.grads) {
    ASSERT_TRUE(b.grads.count(name)) << name;
    EXPECT_EQ(g.to_vector(), b.grads.at(name).to_vector()) << name;
  }
}

TEST(MpiLayouts, OverlappedDispatchIsBitwiseTheBlockingOne) {
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 2 || MOE_WORLD_SIZE == 4);
  const config::ModelConfig c = base_config();
  const Tensor ids = tokens(c.vocab_size(), 1), tgt = tokens(c.vocab_size(), 2);
  for (int tp : {1, 2}) {
    SCOPED_TRACE("tp " + std::to_string(tp));
    const int ep = MOE_WORLD_SIZE / tp > 1 ? MOE_WORLD_SIZE / tp : MOE_WORLD_SIZE;
    expect_bitwise(parallel_run(c, tp, ep, ids, tgt, false, false), parallel_run(c, tp, ep, ids, tgt, false, true));
  }
  // FP8 dispatch: codes and scales travel while the shared experts run.
  config::ModelConfig f = c;
  f.set_d_model(160);
  f.mutable_fp8()->set_dispatch(true);
  expect_bitwise(parallel_run(f, 1, MOE_WORLD_SIZE, ids, tgt, false, false),
                 parallel_run(f, 1, MOE_WORLD_SIZE, ids, tgt, false, true));
}

// The same layouts on the CUDA device over the NCCL communicator (the SIM
// build: kernels on the SIMT shim, NCCL over MPI on the streams' workers):
// DP, TP, EP, DP x TP, TP x EP, EP with M < EP, both dropping policies.
#define SKIP_WITHOUT_NCCL_DEVICE() \
  if (!comm::nccl_available() || cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device or NCCL in this build"

TEST(MpiCudaLayouts, DataTensorAndExpertParallel) {
  SKIP_WITHOUT_NCCL_DEVICE();
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 2 || MOE_WORLD_SIZE == 4);
  check_layout(base_config(), 1, 1, kBatch, kSeq, 1e-5, true);
  check_layout(base_config(), 2, 1, kBatch, kSeq, 1e-5, true);
  check_layout(base_config(), 1, MOE_WORLD_SIZE, kBatch, kSeq, 1e-5, true);
  if (MOE_WORLD_SIZE == 4) check_layout(base_config(), 2, 2, kBatch, kSeq, 1e-5, true);
}
// FP8 dispatch on the device: our quantiser's codes and tile scales travel
// over NCCL and are dequantised there (the CPU suite's case and bound).
TEST(MpiCudaLayouts, ExpertParallelFp8Dispatch) {
  SKIP_WITHOUT_NCCL_DEVICE();
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 2 || MOE_WORLD_SIZE == 4);
  config::ModelConfig c = base_config();
  c.set_d_model(160);
  c.set_n_layers(2);
  c.mutable_fp8()->set_dispatch(true);
  check_layout(c, 1, MOE_WORLD_SIZE, kBatch, kSeq, 1e-5, true);
  if (MOE_WORLD_SIZE == 4) check_layout(c, 2, 2, kBatch, kSeq, 1e-5, true);
}

TEST(MpiCudaLayouts, DeviceLimitedRoutingAndDropping) {
  SKIP_WITHOUT_NCCL_DEVICE();
  MOE_REQUIRE_WORLD(MOE_WORLD_SIZE == 2 || MOE_WORLD_SIZE == 4);
  config::ModelConfig m1 = base_config();
  m1.mutable_moe()->set_num_groups(MOE_WORLD_SIZE);
  m1.mutable_moe()->set_top_k_groups(MOE_WORLD_SIZE / 2);
  check_layout(m1, 1, MOE_WORLD_SIZE, kBatch, kSeq, 1e-5, true);  // EP with M = EP / 2 < EP
  // The dropping cases of the CPU suite (capacity is per rank's batch, so
  // it matches one rank only without DP).
  if (MOE_WORLD_SIZE == 2) {
    check_layout(dropping(config::DROP_EXPERT_CAPACITY, 4, 2), 2, 2, kBatch, kSeq, 1e-5, true);
    check_layout(dropping(config::DROP_DEVICE_BUDGET, 2, 1), 2, 2, kBatch, kSeq, 1e-5, true);
  } else {
    check_layout(dropping(config::DROP_DEVICE_BUDGET, 4, 2), 2, 4, kBatch, kSeq, 1e-5, true);
  }
}

}  // namespace
}  // namespace moe::model
