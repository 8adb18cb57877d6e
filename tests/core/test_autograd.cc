// Autograd graph behaviour: reuse, accumulation, no-grad, detach, in-place
// after save, hooks, custom functions, freeing of saved tensors.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"

namespace moe {
namespace {

Tensor leaf(const std::vector<double>& v, const Shape& s) {
  Tensor t = from_vector(v, s, DType::f64);
  t.set_requires_grad(true);
  return t;
}

TEST(Autograd, DiamondReuseSumsBothPaths) {
  Tensor x = leaf({1.0, 2.0, 3.0}, {3});
  Tensor a = mul(x, 2.0);   // da/dx = 2
  Tensor b = mul(x, x);     // db/dx = 2x
  Tensor y = sum(add(a, b));  // dy/dx = 2 + 2x
  y.backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{4.0, 6.0, 8.0}));
}

TEST(Autograd, SameTensorTwiceAsInput) {
  Tensor x = leaf({3.0}, {1});
  sum(mul(x, x)).backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 6.0);
}

TEST(Autograd, GradientsAccumulateAcrossBackwardCalls) {
  Tensor x = leaf({1.0, -1.0}, {2});
  sum(mul(x, 3.0)).backward();
  sum(mul(x, 3.0)).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{6.0, 6.0}));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
}

// A leaf takes its first gradient without a copy only when nothing else can
// see it: add's backward hands one tensor to both leaves, and a caller's
// explicit gradient stays the caller's, so those are copied; a gradient that
// only the engine held is taken as it is.
TEST(Autograd, LeafGradIsTakenOnlyWhenNobodyElseSeesIt) {
  Tensor a = leaf({1.0, 2.0}, {2}), b = leaf({3.0, 4.0}, {2});
  Tensor g = from_vector({5.0, 6.0}, {2}, DType::f64);
  add(a, b).backward(g);
  EXPECT_NE(a.grad().raw_data(), b.grad().raw_data());
  EXPECT_NE(a.grad().raw_data(), g.raw_data());
  Tensor ag = a.grad();
  add_(ag, ag);  // in place on one leaf's grad: nobody else moves
  EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{10.0, 12.0}));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<double>{5.0, 6.0}));
  EXPECT_EQ(g.to_vector(), (std::vector<double>{5.0, 6.0}));

  Tensor x = leaf({1.0, -2.0}, {2});
  x.backward(g);  // the leaf itself is the root: g is the caller's
  EXPECT_NE(x.grad().raw_data(), g.raw_data());

  Tensor w = leaf({2.0, 3.0}, {2});
  const void* incoming = nullptr;
  w.register_hook([&](const Tensor& t) {
    incoming = t.raw_data();
    return Tensor();
  });
  mul(w, 4.0).backward(g);  // mul's backward makes a fresh tensor for w alone
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{20.0, 24.0}));
  EXPECT_EQ(w.grad().raw_data(), incoming) << "taken, not copied";
}

TEST(Autograd, NoGradGuardRecordsNothing) {
  Tensor x = leaf({1.0}, {1});
  Tensor y;
  {
    NoGradGuard g;
    y = mul(x, 2.0);
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(y.grad_fn(), nullptr);
  EXPECT_TRUE(GradMode::enabled());
  EXPECT_THROW(y.backward(), Error);
}

TEST(Autograd, DetachStopsGradientAndSharesStorage) {
  Tensor x = leaf({2.0, 5.0}, {2});
  Tensor d = x.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_EQ(d.raw_data(), x.raw_data());
  Tensor y = sum(add(mul(x, d), x));  // gradient only through the non-detached uses: d + 1
  y.backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{3.0, 6.0}));
}

TEST(Autograd, InPlaceAfterSaveIsAnError) {
  Tensor x = leaf({1.0, 2.0}, {2});
  Tensor w = from_vector({3.0, 4.0}, {2}, DType::f64);
  Tensor y = sum(mul(x, w));  // saves w
  fill_(w, 0.0);              // modifies a saved tensor
  try {
    y.backward();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("mul"), std::string::npos) << msg;
    EXPECT_NE(msg.find("modified in place"), std::string::npos) << msg;
  }
}

TEST(Autograd, InPlaceThroughAViewBumpsTheSharedVersion) {
  Tensor x = leaf({1.0, 2.0}, {2});
  Tensor w = from_vector({3.0, 4.0}, {2}, DType::f64);
  Tensor y = sum(exp(mul(x, w)));  // exp saves its output
  Tensor w_view = narrow(w, 0, 0, 1);
  uint64_t before = w.version();
  fill_(w_view, 1.0);
  EXPECT_EQ(w.version(), before + 1);
  EXPECT_THROW(y.backward(), Error);
}

TEST(Autograd, InPlaceOnTensorRequiringGradIsRejected) {
  Tensor x = leaf({1.0}, {1});
  EXPECT_THROW(fill_(x, 2.0), Error);
  NoGradGuard g;
  fill_(x, 2.0);  // allowed without graph recording (optimizer updates)
  EXPECT_DOUBLE_EQ(x.item(), 2.0);
}

TEST(Autograd, HookCalledOnceWithTotalGradient) {
  Tensor x = leaf({1.0, 2.0}, {2});
  int calls = 0;
  std::vector<double> seen;
  x.register_hook([&](const Tensor& g) {
    ++calls;
    seen = g.to_vector();
    return Tensor();
  });
  // Three paths into x: the hook must see their sum, once.
  Tensor y = sum(add(add(mul(x, 2.0), mul(x, 3.0)), x));
  y.backward();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen, (std::vector<double>{6.0, 6.0}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{6.0, 6.0}));
}

TEST(Autograd, HookCanReplaceGradient) {
  Tensor x = leaf({1.0, 2.0}, {2});
  x.register_hook([](const Tensor& g) { return mul(g, 10.0); });
  sum(x).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{10.0, 10.0}));
}

TEST(Autograd, ExplicitGradientForNonScalar) {
  Tensor x = leaf({1.0, 2.0, 3.0}, {3});
  Tensor y = mul(x, x);
  EXPECT_THROW(y.backward(), Error);  // non-scalar needs a gradient
  y.backward(from_vector({1.0, 0.5, 0.0}, {3}, DType::f64));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{2.0, 2.0, 0.0}));
}

TEST(Autograd, SavedTensorsFreedAfterBackward) {
  Tensor x = leaf({1.0, 2.0}, {2});
  Tensor w = from_vector({3.0, 4.0}, {2}, DType::f64);
  std::weak_ptr<Storage> w_storage = w.storage();
  Tensor y = sum(mul(x, w));
  w = Tensor();
  EXPECT_FALSE(w_storage.expired());  // still held by the graph
  y.backward();
  EXPECT_TRUE(w_storage.expired());   // released as soon as mul's backward ran
  EXPECT_THROW(y.backward(), Error);  // second backward without retain_graph
}

TEST(Autograd, RetainGraphAllowsSecondBackward) {
  Tensor x = leaf({2.0}, {1});
  Tensor y = sum(mul(x, x));
  y.backward(Tensor(), /*retain_graph=*/true);
  y.backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 8.0);
}

// A user-defined function: y = 3x forward, backward deliberately scaled so
// the test can tell it was used.
class TripleFn : public Function {
 public:
  std::string name() const override { return "Triple"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& in) override {
    EXPECT_FALSE(GradMode::enabled());
    return {mul(in[0], 3.0)};
  }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    ++backward_calls;
    return {mul(g[0], 3.0)};
  }
  int backward_calls = 0;
};

TEST(Autograd, CustomFunction) {
  Tensor x = leaf({1.0, 2.0}, {2});
  auto fn = std::make_shared<TripleFn>();
  Tensor y = Function::apply(fn, {x})[0];
  EXPECT_EQ(y.to_vector(), (std::vector<double>{3.0, 6.0}));
  EXPECT_EQ(y.grad_fn()->name(), "Triple");
  sum(mul(y, y)).backward();  // d/dx (3x)^2 = 18x
  EXPECT_EQ(fn->backward_calls, 1);
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{18.0, 36.0}));
}

// Backward x3 that may be split (Node::start), logging its halves.
struct SplitTripleFn : Function {
  SplitTripleFn(bool split, std::vector<std::string>& log) : split_(split), log_(log) {}
  std::string name() const override { return "SplitTriple"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& in) override { return {mul(in[0], 3.0)}; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    log_.push_back("backward");
    return {mul(g[0], 3.0)};
  }
  FinishFn start_backward(const std::vector<Tensor>& g) override {
    if (!split_) return nullptr;
    log_.push_back("start");
    const Tensor grad = g[0];
    return [this, grad] {
      log_.push_back("finish");
      return std::vector<Tensor>{mul(grad, 3.0)};
    };
  }
  bool split_;
  std::vector<std::string>& log_;
};
// Identity that logs its backward.
struct LogFn : Function {
  explicit LogFn(std::vector<std::string>& log) : log_(log) {}
  std::string name() const override { return "Log"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& in) override { return {in[0].detach()}; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    log_.push_back("other");
    return {g[0]};
  }
  std::vector<std::string>& log_;
};

TEST(Autograd, SplitBackwardOverlapsOtherWorkAndSumsInSerialOrder) {
  // x's three gradients (f32): 3 from the split node (newest), -1e8 and
  // 1e8. Serially (3 - 1e8) + 1e8 = 0 in f32 (3 is below half the spacing
  // at 1e8); summed in arrival order (-1e8 + 1e8) + 3 = 3.
  auto run = [](bool split, std::vector<std::string>& log) {
    Tensor x = from_vector({1.0, 1.0}, {2}, DType::f32);
    x.set_requires_grad(true);
    const Tensor r = Function::apply(std::make_shared<LogFn>(log), {x})[0];
    const Tensor a = mul(r, 1e8), b = mul(x, -1e8);
    const Tensor s = Function::apply(std::make_shared<SplitTripleFn>(split, log), {x})[0];
    add(add(sum(s), sum(a)), sum(b)).backward();
    return x.grad();
  };
  std::vector<std::string> serial_log, split_log;
  const Tensor serial = run(false, serial_log), split = run(true, split_log);
  EXPECT_EQ(serial_log, (std::vector<std::string>{"backward", "other"}));
  EXPECT_EQ(split_log, (std::vector<std::string>{"start", "other", "finish"}));
  EXPECT_EQ(serial.to_vector(), (std::vector<double>{0.0, 0.0}));
  EXPECT_EQ(split.to_vector(), serial.to_vector());
}

TEST(Autograd, CastBackwardReturnsInputDtype) {
  Tensor x = leaf({1.5, -2.0}, {2});
  Tensor y = cast(x, DType::f32);
  sum(mul(y, 2.0)).backward();
  EXPECT_EQ(x.grad().dtype(), DType::f64);
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{2.0, 2.0}));
}

TEST(Autograd, OnlyFloatingLeavesRequireGrad) {
  Tensor i = arange(0, 3);
  EXPECT_THROW(i.set_requires_grad(true), Error);
  Tensor x = leaf({1.0}, {1});
  Tensor y = mul(x, 2.0);
  EXPECT_THROW(y.set_requires_grad(false), Error);  // not a leaf
}

// Post-accumulate hooks (the gradient synchronisation starts buckets from them).
TEST(AutogradPostAccumulateHook, SeesAccumulatedGradOncePerBackward) {
  Tensor x = leaf({1.0, 2.0}, {2});
  std::vector<std::vector<double>> seen;
  register_post_accumulate_hook(x, [&](const Tensor& l) {
    EXPECT_TRUE(l.same(x));
    seen.push_back(l.grad().to_vector());
  });
  // Two paths into x: one call with their sum.
  sum(add(mul(x, 2.0), x)).backward();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], (std::vector<double>{3.0, 3.0}));
  // A second backward (gradient accumulation): the hook sees the running sum.
  sum(mul(x, 4.0)).backward();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1], (std::vector<double>{7.0, 7.0}));
}

TEST(AutogradPostAccumulateHook, RunsAfterPreHooks) {
  Tensor x = leaf({1.0}, {1});
  std::vector<std::string> order;
  register_post_accumulate_hook(x, [&](const Tensor& l) {
    order.push_back("post");
    EXPECT_DOUBLE_EQ(l.grad().item(), 20.0);  // the pre-hook's replacement
  });
  x.register_hook([&](const Tensor& g) {
    order.push_back("pre");
    return mul(g, 10.0);
  });
  sum(mul(x, 2.0)).backward();
  EXPECT_EQ(order, (std::vector<std::string>{"pre", "post"}));
}

TEST(AutogradPostAccumulateHook, FiresInBackwardOrderAndCanBeRemoved) {
  Tensor a = leaf({2.0}, {1});
  Tensor b = leaf({3.0}, {1});
  std::vector<std::string> order;
  const uint64_t ha = register_post_accumulate_hook(a, [&](const Tensor&) { order.push_back("a"); });
  register_post_accumulate_hook(b, [&](const Tensor&) { order.push_back("b"); });
  // b enters the graph last, so its gradient is final first.
  sum(mul(mul(a, 5.0), b)).backward();
  EXPECT_EQ(order, (std::vector<std::string>{"b", "a"}));
  remove_post_accumulate_hook(a, ha);
  remove_post_accumulate_hook(a, ha);  // second removal: no-op
  order.clear();
  sum(mul(a, b)).backward();
  EXPECT_EQ(order, (std::vector<std::string>{"b"}));
}

TEST(AutogradPostAccumulateHook, RejectsNonLeaves) {
  Tensor x = leaf({1.0}, {1});
  Tensor y = mul(x, 2.0);
  EXPECT_THROW(register_post_accumulate_hook(y, [](const Tensor&) {}), Error);
  EXPECT_THROW(register_post_accumulate_hook(from_vector({1.0}, {1}), [](const Tensor&) {}), Error);
}

}  // namespace
}  // namespace moe
