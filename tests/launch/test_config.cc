// Config loading, overrides and validation: every bad input gives an error
// naming the field; every config in configs/ loads and validates.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "google/protobuf/util/message_differencer.h"
#include "launch/config.h"
#include "model/presets.h"

namespace moe::launch {
namespace {

using google::protobuf::util::MessageDifferencer;

std::string config_path(const std::string& name) { return std::string(MOE_SOURCE_DIR) + "/configs/" + name; }

// One bad input. Either `text` (a whole config in protobuf text) or the
// `base` file with `overrides`; `max_token` >= 0 validates against a
// dataset. The error (from loading, or else from validate) must contain
// `expected`, which names the field.
struct BadCase {
  const char* what;
  const char* text;  // nullptr: load configs/<base>
  const char* base;
  std::vector<std::string> overrides;
  int64_t max_token;
  const char* expected;
};

// clang-format off
const BadCase kBadCases[] = {
    {"unknown field", "model { n_layer: 4 }", nullptr, {}, -1, "no field named \"n_layer\""},
    {"unknown top-level field", "stepz: 4", nullptr, {}, -1, "stepz"},
    {"heads not divisible by kv heads", nullptr, "tiny_moe.pbtxt", {"model.n_kv_heads=3"}, -1,
     "model.n_heads = 4 is not divisible by model.n_kv_heads = 3"},
    {"top_k > routed experts", nullptr, "tiny_moe.pbtxt", {"model.moe.top_k=9"}, -1,
     "model.moe.top_k = 9 must be in [1, model.moe.num_routed_experts = 8]"},
    {"top_k_groups too few experts", nullptr, "tiny_moe.pbtxt", {"model.moe.top_k_groups=1"}, -1,
     "model.moe.top_k_groups = 1 groups x 2 experts per group = 2 < model.moe.top_k = 3"},
    {"experts not divisible by groups", nullptr, "tiny_moe.pbtxt", {"model.moe.num_groups=3"}, -1,
     "model.moe.num_routed_experts = 8 is not divisible by model.moe.num_groups = 3"},
    {"top_k_groups > groups", nullptr, "tiny_moe.pbtxt", {"model.moe.top_k_groups=5"}, -1,
     "model.moe.top_k_groups = 5 must be in [1, model.moe.num_groups = 4]"},
    {"capacity factor <= 0 with dropping", nullptr, "tiny_moe.pbtxt",
     {"model.moe.drop_policy=DROP_EXPERT_CAPACITY", "model.moe.capacity_factor=0"}, -1,
     "model.moe.capacity_factor = 0 must be > 0 when token dropping is on"},
    {"group_score_top_n > experts per group", nullptr, "tiny_moe_sigmoid_bias.pbtxt",
     {"model.moe.group_score_top_n=3"}, -1, "model.moe.group_score_top_n = 3 must be in [1, 2"},
    {"protected fraction > 1", nullptr, "tiny_moe.pbtxt", {"model.moe.protected_sequence_fraction=1.5"}, -1,
     "model.moe.protected_sequence_fraction = 1.5"},
    {"negative balance coefficient", nullptr, "tiny_moe.pbtxt", {"model.moe.expert_balance_coef=-0.1"}, -1,
     "model.moe.expert_balance_coef = -0.1 must be >= 0"},
    {"unknown device", nullptr, "tiny_moe.pbtxt", {"device=cuda:1"}, -1,
     "device = 'cuda:1' must be cpu or cuda"},
    {"more than 64 expert groups", nullptr, "tiny_moe.pbtxt",
     {"model.moe.num_routed_experts=130", "model.moe.num_groups=65"}, -1,
     "model.moe.num_groups = 65 exceeds 64 (the router keeps the chosen groups as a 64-bit mask)"},
    {"ZeRO-1 on cuda", nullptr, "tiny_moe.pbtxt", {"device=cuda", "parallel.zero1=true"}, -1,
     "parallel.zero1 = true with device = cuda"},
    {"vocab smaller than dataset max token", nullptr, "dense_ref.pbtxt", {}, 300,
     "model.vocab_size 256 is smaller than the dataset's largest token 300 + 1"},
    {"bad enum name in --set", nullptr, "tiny_moe.pbtxt", {"model.moe.score_function=SIGMOID"}, -1,
     "model.moe.score_function: no value 'SIGMOID' in enum moe.config.ScoreFunction "
     "(valid: SCORE_SOFTMAX, SCORE_SIGMOID)"},
    {"unknown --set path", nullptr, "tiny_moe.pbtxt", {"model.moe.topk=4"}, -1,
     "unknown field 'model.moe.topk': model.moe (moe.config.MoeConfig) has fields: num_routed_experts"},
    {"unknown top-level --set path", nullptr, "tiny_moe.pbtxt", {"stepz=4"}, -1,
     "unknown field 'stepz': the top level (moe.config.TrainConfig) has fields: model, optim"},
    {"malformed --set", nullptr, "tiny_moe.pbtxt", {"model.moe.top_k"}, -1, "expected field.path=value"},
    {"--set through a scalar", nullptr, "tiny_moe.pbtxt", {"steps.x=1"}, -1, "steps is not a message"},
    {"--set on a message", nullptr, "tiny_moe.pbtxt", {"model.moe=1"}, -1,
     "model.moe: is a message (moe.config.MoeConfig)"},
    {"bad integer in --set", nullptr, "tiny_moe.pbtxt", {"model.d_model=wide"}, -1,
     "model.d_model: 'wide' is not an integer"},
    {"bad bool in --set", nullptr, "tiny_moe.pbtxt", {"model.tie_embeddings=maybe"}, -1,
     "model.tie_embeddings: 'maybe' is not a bool"},
    {"seq_len > max_seq_len", nullptr, "dense_ref.pbtxt", {"seq_len=128"}, -1,
     "seq_len = 128 must be in [1, model.max_seq_len = 64]"},
    {"batch not divisible by micro batch", nullptr, "dense_ref.pbtxt", {"micro_batch_size=5"}, -1,
     "global_batch_size = 12 is not divisible by micro_batch_size = 5"},
    {"head_dim from d_model not integer", nullptr, "dense_ref.pbtxt", {"model.n_heads=3", "model.n_kv_heads=1"}, -1,
     "model.d_model = 128 is not divisible by model.n_heads = 3"},
    {"odd head_dim", nullptr, "dense_ref.pbtxt", {"model.head_dim=33"}, -1, "model.head_dim = 33 must be even"},
    {"odd MLA rope dims", nullptr, "tiny_mla_moe.pbtxt", {"model.mla.qk_rope_head_dim=15"}, -1,
     "model.mla.qk_rope_head_dim = 15 must be even"},
    {"zero MLA latent", nullptr, "tiny_mla_moe.pbtxt", {"model.mla.kv_lora_rank=0"}, -1,
     "model.mla.kv_lora_rank = 0 must be > 0"},
    {"qk_norm with MLA", nullptr, "tiny_mla_moe.pbtxt", {"model.qk_norm=true"}, -1,
     "model.qk_norm = true is for GQA/MHA attention, not model.attention = ATTENTION_MLA"},
    {"QK-Clip with qk_norm", nullptr, "tiny_moe.pbtxt",
     {"model.qk_norm=true", "optim.kind=OPTIMIZER_MUON", "optim.muon.qk_clip_threshold=100"}, -1,
     "optim.muon.qk_clip_threshold = 100 (QK-Clip) cannot be used with model.qk_norm = true"},
    {"FP8 dispatch without experts", nullptr, "dense_ref.pbtxt", {"model.fp8.dispatch=true"}, -1,
     "model.fp8.dispatch = true but the model has no routed experts"},
    {"FP8 tile-wise promotion interval not dividing 128", nullptr, "tiny_moe.pbtxt",
     {"model.fp8.recipe=FP8_TILEWISE", "model.fp8.promotion_interval=100"}, -1,
     "model.fp8.promotion_interval = 100 must divide 128 with FP8_TILEWISE"},
    {"FP8 zero promotion interval", nullptr, "tiny_moe.pbtxt",
     {"model.fp8.recipe=FP8_PER_TENSOR_CURRENT", "model.fp8.promotion_interval=0"}, -1,
     "model.fp8.promotion_interval = 0 must be > 0"},
    {"FP8 delayed with no history", nullptr, "tiny_moe.pbtxt",
     {"model.fp8.recipe=FP8_PER_TENSOR_DELAYED", "model.fp8.amax_history_len=0"}, -1,
     "model.fp8.amax_history_len = 0 must be > 0"},
    {"FP8 with no GEMM selected", nullptr, "tiny_moe.pbtxt",
     {"model.fp8.recipe=FP8_TILEWISE", "model.fp8.attention_proj=false", "model.fp8.dense_mlp=false",
      "model.fp8.experts=false"}, -1,
     "model.fp8.recipe = FP8_TILEWISE but no GEMM is selected (model.fp8.attention_proj, dense_mlp and experts"},
    {"FP8 with no pass selected", nullptr, "tiny_moe.pbtxt",
     {"model.fp8.recipe=FP8_PER_TENSOR_DELAYED", "model.fp8.fprop=false", "model.fp8.dgrad=false",
      "model.fp8.wgrad=false"}, -1,
     "model.fp8.recipe = FP8_PER_TENSOR_DELAYED but no pass is selected (model.fp8.fprop, dgrad and wgrad"},
    {"zero d_model", nullptr, "dense_ref.pbtxt", {"model.d_model=0"}, -1, "model.d_model = 0 must be > 0"},
    {"first_k_dense > n_layers", nullptr, "tiny_moe.pbtxt", {"model.first_k_dense=5"}, -1,
     "model.first_k_dense = 5 exceeds model.n_layers = 4"},
    {"zero steps", nullptr, "dense_ref.pbtxt", {"steps=0"}, -1, "steps = 0 must be > 0"},
    {"zero lr", nullptr, "dense_ref.pbtxt", {"optim.lr=0"}, -1, "optim.lr = 0 must be > 0"},
    {"beta2 = 1", nullptr, "dense_ref.pbtxt", {"optim.beta2=1"}, -1, "optim.beta2 = 1 must be in [0, 1)"},
    {"warmup > steps", nullptr, "dense_ref.pbtxt", {"optim.schedule.warmup_steps=3000"}, -1,
     "optim.schedule.warmup_steps = 3000 exceeds steps = 2000"},
    {"zero tp", nullptr, "dense_ref.pbtxt", {"parallel.tp=0"}, -1, "parallel.tp = 0 must be > 0"},
    {"zero comm timeout", nullptr, "dense_ref.pbtxt", {"parallel.comm_timeout_s=0"}, -1,
     "parallel.comm_timeout_s = 0 must be > 0"},
    {"negative comm timeout", nullptr, "dense_ref.pbtxt", {"parallel.comm_timeout_s=-1"}, -1,
     "parallel.comm_timeout_s = -1 must be > 0"},
    {"infinite comm timeout", nullptr, "dense_ref.pbtxt", {"parallel.comm_timeout_s=inf"}, -1,
     "parallel.comm_timeout_s = inf is not a finite number"},
    {"empty data.path", nullptr, "dense_ref.pbtxt", {"data.path="}, -1, "data.path is empty"},
    // Non-finite doubles: every comparison with NaN fails and inf passes "> 0".
    {"infinite lr", nullptr, "dense_ref.pbtxt", {"optim.lr=inf"}, -1, "optim.lr = inf is not a finite number"},
    {"NaN lr", nullptr, "dense_ref.pbtxt", {"optim.lr=nan"}, -1, "optim.lr = nan is not a finite number"},
    {"NaN beta1", nullptr, "dense_ref.pbtxt", {"optim.beta1=nan"}, -1, "optim.beta1 = nan is not a finite number"},
    {"infinite eps", nullptr, "dense_ref.pbtxt", {"optim.eps=inf"}, -1, "optim.eps = inf is not a finite number"},
    {"infinite weight decay", nullptr, "dense_ref.pbtxt", {"optim.weight_decay=inf"}, -1,
     "optim.weight_decay = inf is not a finite number"},
    {"infinite grad clip", nullptr, "dense_ref.pbtxt", {"optim.grad_clip=inf"}, -1,
     "optim.grad_clip = inf is not a finite number"},
    {"NaN min_lr", nullptr, "dense_ref.pbtxt", {"optim.schedule.min_lr=nan"}, -1,
     "optim.schedule.min_lr = nan is not a finite number"},
    {"NaN milestone", nullptr, "dense_ref.pbtxt", {"optim.schedule.milestones=0.5,nan"}, -1,
     "optim.schedule.milestones[1] = nan is not a finite number"},
    {"infinite capacity factor with dropping", nullptr, "tiny_moe.pbtxt",
     {"model.moe.drop_policy=DROP_EXPERT_CAPACITY", "model.moe.capacity_factor=inf"}, -1,
     "model.moe.capacity_factor = inf is not a finite number"},
    {"NaN capacity factor without dropping", nullptr, "tiny_moe.pbtxt", {"model.moe.capacity_factor=nan"}, -1,
     "model.moe.capacity_factor = nan is not a finite number"},
    {"infinite rope theta", nullptr, "dense_ref.pbtxt", {"model.rope_theta=inf"}, -1,
     "model.rope_theta = inf is not a finite number"},
    {"infinite checkpoint minutes", nullptr, "dense_ref.pbtxt", {"checkpoint.every_minutes=inf"}, -1,
     "checkpoint.every_minutes = inf is not a finite number"},
    // No rule of its own rejects inf here: the sweep over every double field does.
    {"infinite loss spike factor", nullptr, "dense_ref.pbtxt", {"optim.loss_spike_factor=inf"}, -1,
     "optim.loss_spike_factor = inf is not a finite number"},
    {"negative max skipped steps", nullptr, "dense_ref.pbtxt", {"optim.max_skipped_steps=-1"}, -1,
     "optim.max_skipped_steps = -1 must be >= 0"},
    {"loss spike factor <= 1", nullptr, "dense_ref.pbtxt", {"optim.loss_spike_factor=0.5"}, -1,
     "optim.loss_spike_factor = 0.5 must be 0 (off) or > 1"},
    {"loss spike window 0", nullptr, "dense_ref.pbtxt", {"optim.loss_spike_window=0"}, -1,
     "optim.loss_spike_window = 0 must be > 0"},
};

// One bad parallel layout: configs/<base> with `overrides` on `world` ranks.
struct BadLayout {
  const char* what;
  const char* base;
  std::vector<std::string> overrides;
  int world;
  const char* expected;
};

const BadLayout kBadLayouts[] = {
    {"world not DP x TP", "tiny_moe.pbtxt", {"parallel.tp=2"}, 3,
     "world size 3 is not divisible by parallel.tp = 2"},
    {"EP does not divide world", "tiny_moe.pbtxt", {"parallel.ep=4"}, 6,
     "parallel.ep = 4 does not divide the world size 6"},
    {"experts not divisible by EP", "tiny_moe.pbtxt", {"parallel.ep=3"}, 3,
     "model.moe.num_routed_experts = 8 is not divisible by parallel.ep = 3"},
    {"EP on a dense model", "dense_ref.pbtxt", {"parallel.ep=2"}, 2, "parallel.ep = 2 but the model has no routed experts"},
    {"heads not divisible by TP", "tiny_moe.pbtxt", {"parallel.tp=8", "global_batch_size=8"}, 8,
     "model.n_heads = 4 is not divisible by parallel.tp = 8"},
    {"vocab not divisible by TP", "tiny_moe.pbtxt", {"parallel.tp=2", "model.vocab_size=257"}, 2,
     "model.vocab_size = 257 is not divisible by parallel.tp = 2"},
    {"seq_len not divisible by TP", "tiny_moe.pbtxt", {"parallel.tp=2", "seq_len=63"}, 2,
     "seq_len = 63 is not divisible by parallel.tp = 2"},
    {"batch not divisible by DP", "tiny_moe.pbtxt", {"global_batch_size=12"}, 8,
     "global_batch_size = 12 is not divisible by the data-parallel size 8"},
    {"micro-batch per DP rank", "tiny_moe.pbtxt", {"micro_batch_size=4"}, 2,
     "micro_batch_size = 4 (per data-parallel rank) does not divide the 6 sequences"},
    {"groups vs EP", "tiny_moe.pbtxt", {"parallel.ep=8", "global_batch_size=8"}, 8,
     "model.moe.num_groups = 4 does not fit parallel.ep = 8"},
    {"device budget groups", "tiny_moe.pbtxt", {"parallel.ep=2", "model.moe.drop_policy=DROP_DEVICE_BUDGET"}, 2,
     "model.moe.num_groups = 4 must equal parallel.ep = 2 under DROP_DEVICE_BUDGET"},
    {"Muon with TP", "tiny_moe.pbtxt", {"parallel.tp=2", "optim.kind=OPTIMIZER_MUON"}, 2,
     "optim.kind = OPTIMIZER_MUON is not supported with parallel.tp > 1"},
    {"MTP with TP", "tiny_moe.pbtxt", {"parallel.tp=2", "model.mtp.depth=1"}, 2,
     "model.mtp.depth = 1: multi-token prediction is not supported with parallel.tp > 1"},
    {"per-tensor FP8 with TP", "tiny_moe.pbtxt", {"parallel.tp=2", "model.fp8.recipe=FP8_PER_TENSOR_DELAYED"}, 2,
     "model.fp8.recipe = FP8_PER_TENSOR_DELAYED is not supported with parallel.tp > 1"},
    {"tile-wise FP8 with TP splitting a 128-channel tile", "tiny_moe.pbtxt",
     {"parallel.tp=2", "model.fp8.recipe=FP8_TILEWISE"}, 2,
     "model.fp8.recipe = FP8_TILEWISE with parallel.tp = 2: n_heads x head_dim = 128 must be a multiple of 128 x tp "
     "= 256"},
    // moe-train applies the timeout right after validate_layout, before validate().
    {"zero comm timeout", "tiny_moe.pbtxt", {"parallel.comm_timeout_s=0"}, 1,
     "parallel.comm_timeout_s = 0 must be > 0"},
    {"negative comm timeout", "tiny_moe.pbtxt", {"parallel.comm_timeout_s=-1"}, 2,
     "parallel.comm_timeout_s = -1 must be > 0"},
    {"tile-wise FP8 with TP splitting the dense FFN", "dense_ref.pbtxt",
     {"parallel.tp=2", "model.fp8.recipe=FP8_TILEWISE", "model.fp8.attention_proj=false"}, 2,
     "model.ffn_dim = 344 must be a multiple of 128 x tp = 256"},
};

TEST(ConfigErrors, EachBadLayoutNamesTheRule) {
  for (const BadLayout& c : kBadLayouts) {
    auto cfg = load_train_config(config_path(c.base), c.overrides);
    ASSERT_TRUE(cfg.ok()) << c.what << ": " << cfg.status();
    const absl::Status s = validate_layout(*cfg, c.world);
    ASSERT_FALSE(s.ok()) << c.what;
    EXPECT_NE(s.message().find(c.expected), std::string::npos)
        << c.what << "\n  expected: " << c.expected << "\n  got:      " << s.message();
  }
}

TEST(ConfigErrors, GoodLayoutsPass) {
  auto cfg = load_train_config(config_path("tiny_moe.pbtxt"), {"parallel.tp=2", "parallel.ep=4"});
  ASSERT_TRUE(cfg.ok());
  EXPECT_TRUE(validate_layout(*cfg, 4).ok()) << validate_layout(*cfg, 4);
  // FP8 with TP: tile-wise with whole 128-channel tiles per rank; per-tensor
  // on the experts only (they are not TP-split).
  auto fp8_tiles = load_train_config(config_path("tiny_moe.pbtxt"), {"parallel.tp=2", "model.fp8.recipe=FP8_TILEWISE",
                                                                     "model.head_dim=64", "model.n_kv_heads=4"});
  ASSERT_TRUE(fp8_tiles.ok());
  EXPECT_TRUE(validate_layout(*fp8_tiles, 2).ok()) << validate_layout(*fp8_tiles, 2);
  auto fp8_experts = load_train_config(config_path("tiny_moe.pbtxt"),
                                       {"parallel.tp=2", "model.fp8.recipe=FP8_PER_TENSOR_DELAYED",
                                        "model.fp8.attention_proj=false"});
  ASSERT_TRUE(fp8_experts.ok());
  EXPECT_TRUE(validate_layout(*fp8_experts, 2).ok()) << validate_layout(*fp8_experts, 2);
  auto nodes = load_train_config(config_path("tiny_moe.pbtxt"),
                                 {"parallel.ep=8", "parallel.ranks_per_node=2", "global_batch_size=8"});
  ASSERT_TRUE(nodes.ok());
  EXPECT_TRUE(validate_layout(*nodes, 8).ok()) << validate_layout(*nodes, 8);
  // Several GPU ranks talk over NCCL.
  auto gpus = load_train_config(config_path("tiny_moe.pbtxt"), {"device=cuda", "parallel.tp=2", "parallel.ep=2"});
  ASSERT_TRUE(gpus.ok());
  EXPECT_TRUE(validate_layout(*gpus, 4).ok()) << validate_layout(*gpus, 4);
}

// FP8 dispatch does not depend on the GEMM recipe, BF16 moments not on the
// optimizer kind or ZeRO-1.
TEST(ConfigErrors, Fp8DispatchAndBf16MomentsPassWithAnyRecipeAndOptimizer) {
  for (const char* recipe : {"FP8_OFF", "FP8_TILEWISE"})
    for (const char* kind : {"OPTIMIZER_ADAMW", "OPTIMIZER_MUON"}) {
      auto cfg = load_train_config(
          config_path("tiny_moe.pbtxt"),
          {"model.fp8.dispatch=true", std::string("model.fp8.recipe=") + recipe, "optim.moment_dtype=MOMENT_BF16",
           std::string("optim.kind=") + kind, "parallel.ep=2", "parallel.zero1=true"});
      ASSERT_TRUE(cfg.ok()) << cfg.status();
      EXPECT_TRUE(validate(*cfg).ok()) << recipe << " " << kind << ": " << validate(*cfg);
      EXPECT_TRUE(validate_layout(*cfg, 2).ok()) << validate_layout(*cfg, 2);
    }
}
// clang-format on

TEST(ConfigErrors, EachNamesTheField) {
  for (const BadCase& c : kBadCases) {
    absl::Status s;
    if (c.text != nullptr) {
      s = parse_train_config(c.text, "snippet").status();
    } else {
      auto cfg = load_train_config(config_path(c.base), c.overrides);
      s = cfg.ok() ? validate(*cfg, c.max_token) : cfg.status();
    }
    ASSERT_FALSE(s.ok()) << c.what;
    EXPECT_NE(s.message().find(c.expected), std::string::npos)
        << c.what << "\n  expected: " << c.expected << "\n  got:      " << s.message();
  }
}

TEST(ConfigErrors, ParseErrorsCarryFileLineAndColumn) {
  auto s = parse_train_config("steps: 10\nmodel {\n  n_layer: 4\n}\n", "x.pbtxt").status();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("x.pbtxt:3:"), std::string::npos) << s;
  EXPECT_NE(s.message().find("moe.config.ModelConfig"), std::string::npos) << s;
}

TEST(ConfigErrors, MissingFileAndOverrideErrorsNameTheFile) {
  auto missing = load_train_config("/nonexistent/x.pbtxt", {});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("cannot open config file /nonexistent/x.pbtxt"), std::string::npos);
  auto bad = load_train_config(config_path("tiny_moe.pbtxt"), {"model.moe.topk=1"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("tiny_moe.pbtxt: --set model.moe.topk=1"), std::string::npos) << bad.status();
}

TEST(ConfigErrors, ValidateReportsEveryViolation) {
  auto cfg = load_train_config(config_path("tiny_moe.pbtxt"), {"steps=0", "model.moe.top_k=0"});
  ASSERT_TRUE(cfg.ok());
  const absl::Status s = validate(*cfg);
  EXPECT_NE(s.message().find("steps = 0"), std::string::npos) << s;
  EXPECT_NE(s.message().find("model.moe.top_k = 0"), std::string::npos) << s;
}

// A NaN fails the rule's comparison and the finiteness check: said once.
// Different fields' violations all come together.
TEST(ConfigErrors, NonFiniteIsReportedOnceAndWithTheRest) {
  auto cfg = load_train_config(config_path("dense_ref.pbtxt"),
                               {"optim.lr=nan", "data.path=", "parallel.comm_timeout_s=-1", "optim.beta2=inf"});
  ASSERT_TRUE(cfg.ok());
  const std::string m(validate(*cfg).message());
  for (const char* part : {"optim.lr = nan is not a finite number", "data.path is empty",
                           "parallel.comm_timeout_s = -1 must be > 0", "optim.beta2 = inf is not a finite number"})
    EXPECT_NE(m.find(part), std::string::npos) << part << " not in " << m;
  EXPECT_EQ(m.find("optim.lr"), m.rfind("optim.lr")) << m;
  EXPECT_EQ(m.find("optim.beta2"), m.rfind("optim.beta2")) << m;
  // min_lr is not compared with a NaN lr (that would blame min_lr).
  EXPECT_EQ(m.find("min_lr"), std::string::npos) << m;
  // The layout check, which runs before the dataset is opened, names the timeout too.
  EXPECT_NE(validate_layout(*cfg, 1).message().find("parallel.comm_timeout_s = -1 must be > 0"), std::string::npos);
}

// The vocabulary rule says where the dataset's largest token is.
TEST(ConfigErrors, VocabRuleNamesWhereTheLargestTokenIs) {
  auto cfg = load_train_config(config_path("dense_ref.pbtxt"), {});
  ASSERT_TRUE(cfg.ok());
  const absl::Status s = validate(*cfg, 300, "d_train.bin, token offset 5 (document 1)");
  EXPECT_NE(s.message().find("model.vocab_size 256 is smaller than the dataset's largest token 300 + 1 (token 300 "
                             "at d_train.bin, token offset 5 (document 1))"),
            std::string::npos)
      << s;
}

TEST(ConfigOverrides, LandInNestedEnumBoolDoubleRepeatedFields) {
  auto cfg = load_train_config(
      config_path("dense_ref.pbtxt"),
      {"model.moe.num_routed_experts=4", "model.moe.score_function=SCORE_SIGMOID", "model.moe.selection_bias=true",
       "model.tie_embeddings=1", "optim.lr=3e-4", "optim.schedule.milestones=0.5,0.75", "optim.no_decay=*norm*,*bias",
       "data.path=other.h5", "seed=7", "model.init_seed=18446744073709551615"});
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_TRUE(cfg->model().has_moe());  // created on the way
  EXPECT_EQ(cfg->model().moe().num_routed_experts(), 4);
  EXPECT_EQ(cfg->model().moe().score_function(), config::SCORE_SIGMOID);
  EXPECT_TRUE(cfg->model().moe().selection_bias());
  EXPECT_TRUE(cfg->model().tie_embeddings());
  EXPECT_DOUBLE_EQ(cfg->optim().lr(), 3e-4);
  ASSERT_EQ(cfg->optim().schedule().milestones_size(), 2);
  EXPECT_DOUBLE_EQ(cfg->optim().schedule().milestones(1), 0.75);
  ASSERT_EQ(cfg->optim().no_decay_size(), 2);
  EXPECT_EQ(cfg->optim().no_decay(1), "*bias");
  EXPECT_EQ(cfg->data().path(), "other.h5");
  EXPECT_EQ(cfg->seed(), 7u);
  EXPECT_EQ(cfg->model().init_seed(), 18446744073709551615u);
  // Untouched fields keep the file's values.
  EXPECT_EQ(cfg->model().d_model(), 128);
  EXPECT_DOUBLE_EQ(cfg->optim().beta2(), 0.99);
}

TEST(ConfigOverrides, RepeatedIsReplacedOrCleared) {
  config::TrainConfig cfg;
  ASSERT_TRUE(apply_override(cfg, "optim.schedule.milestones=0.1,0.2,0.3").ok());
  ASSERT_TRUE(apply_override(cfg, "optim.schedule.milestones=0.6").ok());
  ASSERT_EQ(cfg.optim().schedule().milestones_size(), 1);
  EXPECT_DOUBLE_EQ(cfg.optim().schedule().milestones(0), 0.6);
  ASSERT_TRUE(apply_override(cfg, "optim.schedule.milestones=").ok());
  EXPECT_EQ(cfg.optim().schedule().milestones_size(), 0);
  EXPECT_FALSE(apply_override(cfg, "optim.schedule.milestones=0.5,x").ok());
}

TEST(ConfigOverrides, LaterOverrideWins) {
  auto cfg = load_train_config(config_path("tiny_moe.pbtxt"), {"model.moe.top_k=1", "model.moe.top_k=2"});
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(cfg->model().moe().top_k(), 2);
}

TEST(ConfigOverrides, FailedOverrideChangesNothing) {
  config::TrainConfig cfg;
  EXPECT_FALSE(apply_override(cfg, "model.moe.topk=1").ok());
  EXPECT_FALSE(cfg.has_model());  // in particular, no empty model.moe (= MoE on)
  EXPECT_FALSE(apply_override(cfg, "optim.schedule.milestones=0.5,bad").ok());
  EXPECT_FALSE(cfg.has_optim());
}

std::vector<std::filesystem::path> config_files() {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(std::string(MOE_SOURCE_DIR) + "/configs"))
    if (e.path().extension() == ".pbtxt") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

TEST(Configs, EveryConfigLoadsAndValidates) {
  const auto files = config_files();
  EXPECT_GE(files.size(), 4u);
  for (const auto& f : files) {
    auto cfg = load_train_config(f.string(), {});
    ASSERT_TRUE(cfg.ok()) << cfg.status();
    // Byte-level data: tokens 0..255.
    EXPECT_TRUE(validate(*cfg, 255).ok()) << f << ": " << validate(*cfg, 255);
  }
}

// configs/<a_b>.pbtxt's model is preset "a-b" exactly.
TEST(Configs, ModelsMatchTheirPresets) {
  for (const std::string name : {"dense_ref", "tiny_moe", "tiny_moe_sigmoid_bias", "tiny_mla_moe"}) {
    auto cfg = load_train_config(config_path(name + ".pbtxt"), {});
    ASSERT_TRUE(cfg.ok()) << cfg.status();
    std::string preset = name;
    std::replace(preset.begin(), preset.end(), '_', '-');
    auto m = model::model_preset(preset);
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_TRUE(MessageDifferencer::Equivalent(cfg->model(), *m)) << name;
  }
}

TEST(ConfigText, ShowsDefaultsAndRoundTrips) {
  auto cfg = load_train_config(config_path("tiny_moe.pbtxt"), {});
  ASSERT_TRUE(cfg.ok());
  const std::string text = config_to_text(*cfg);
  for (const char* shown : {"top_k_groups: 2", "z_loss_coef: 0", "rope_theta: 10000", "zero1: false",
                            "drop_policy: DROP_NONE", "keep_last: 2", "run_dir: \"runs/tiny_moe\""})
    EXPECT_NE(text.find(shown), std::string::npos) << shown << " not in\n" << text;
  auto back = parse_train_config(text, "printed");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(MessageDifferencer::Equivalent(*back, *cfg));
  EXPECT_EQ(config_to_text(*back), text);
}

TEST(ConfigText, DenseConfigStaysDense) {
  auto cfg = load_train_config(config_path("dense_ref.pbtxt"), {});
  ASSERT_TRUE(cfg.ok());
  const std::string text = config_to_text(*cfg);
  EXPECT_EQ(text.find("moe {"), std::string::npos) << text;
  EXPECT_NE(text.find("mtp {"), std::string::npos) << text;
}

TEST(ConfigText, WriteResolvedConfigCreatesTheRunDir) {
  const std::string dir = ::testing::TempDir() + "/moe_config_test/run/a";
  std::filesystem::remove_all(::testing::TempDir() + "/moe_config_test");
  auto cfg = load_train_config(config_path("tiny_mla_moe.pbtxt"), {"model.moe.top_k=2"});
  ASSERT_TRUE(cfg.ok());
  ASSERT_TRUE(write_resolved_config(*cfg, dir).ok());
  auto back = load_train_config(dir + "/config.pbtxt", {});
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(MessageDifferencer::Equivalent(*back, *cfg));
  EXPECT_EQ(back->model().moe().top_k(), 2);
  EXPECT_FALSE(std::filesystem::exists(dir + "/config.pbtxt.tmp"));
  std::filesystem::remove_all(::testing::TempDir() + "/moe_config_test");
}

TEST(ConfigText, WriteResolvedConfigReportsAnUnwritableDir) {
  const std::string file = ::testing::TempDir() + "/moe_config_test_file";
  std::ofstream(file) << "x";
  const absl::Status s = write_resolved_config(config::TrainConfig(), file + "/sub");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(file), std::string::npos) << s;
  std::filesystem::remove(file);
}

// --list_config: every field with its type, default and the .proto's
// comment, and each listed path is one --set accepts (set to its default).
TEST(ConfigFields, ListingNamesEveryFieldAsSetTakesIt) {
  const std::string listing = list_config_fields();
  EXPECT_NE(listing.find("model.n_kv_heads (int64) = 0  # 0: n_heads\n"), std::string::npos) << listing;
  EXPECT_NE(listing.find("model.attention (enum ATTENTION_GQA|ATTENTION_MLA) = ATTENTION_GQA\n"), std::string::npos);
  EXPECT_NE(listing.find("parallel.overlap_dispatch (bool) = true  # "), std::string::npos);
  std::istringstream in(listing);
  int leaves = 0;
  for (std::string line; std::getline(in, line);) {
    const size_t open = line.find(" ("), eq = line.find(") = ");
    if (open == std::string::npos || eq == std::string::npos || line.find("repeated") != std::string::npos ||
        line.find("[i]") != std::string::npos)
      continue;
    std::string value = line.substr(eq + 4, line.find("  # ") == std::string::npos ? std::string::npos
                                                                                   : line.find("  # ") - eq - 4);
    if (line.find("(string)") != std::string::npos) value = value.substr(1, value.size() - 2);
    config::TrainConfig cfg;
    const absl::Status st = apply_override(cfg, line.substr(0, open) + "=" + value);
    EXPECT_TRUE(st.ok()) << line << ": " << st.message();
    ++leaves;
  }
  EXPECT_GT(leaves, 100);
}

}  // namespace
}  // namespace moe::launch
