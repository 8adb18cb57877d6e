#include "core/autograd.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <queue>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "core/ops.h"

namespace moe {

namespace {
thread_local bool g_grad_enabled = true;
std::atomic<uint64_t> g_sequence{0};

TensorMeta meta_of(const Tensor& t) { return {t.shape(), t.dtype(), t.device()}; }

// Generic node whose backward is a closure; release_saved() drops the closure
// and with it every tensor it captured.
using StartFn = std::function<FinishFn(std::vector<Tensor>& grads)>;

class LambdaNode final : public Node {
 public:
  LambdaNode(std::string name, BackwardFn fn, StartFn start = nullptr)
      : name_(name), fn_(std::move(fn)), start_(std::move(start)) {}
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    check_alive();
    return fn_(grads);
  }
  FinishFn start(std::vector<Tensor>& grads) override {
    if (!start_) return nullptr;
    check_alive();
    return start_(grads);
  }
  void release_saved() override {
    fn_ = nullptr;
    start_ = nullptr;
  }
  std::string name() const override { return name_; }

 private:
  void check_alive() const {
    MOE_CHECK(fn_ != nullptr, "backward through ", name_,
              " a second time: its saved tensors were freed; pass retain_graph=true to the first backward");
  }
  std::string name_;
  BackwardFn fn_;
  StartFn start_;
};

// Sink of a leaf: runs the leaf's hooks once on the summed gradient, then
// accumulates into .grad.
// True when nothing but `g` can see its values: the only handle on its impl,
// the only user of its storage (no view aliases it), contiguous over exactly
// that storage, and outside any graph. AccumulateGrad then takes it as the
// leaf's .grad instead of copying it (a copy per parameter per step, on the
// serial autograd thread, otherwise).
bool sole_owner(const Tensor& g) {
  const TensorImpl* t = g.impl();
  return g.impl_ptr().use_count() == 1 && t->storage && t->storage.use_count() == 1 && t->offset == 0 &&
         !g.requires_grad() && g.is_contiguous() &&
         t->storage->nbytes() == size_t(g.numel()) * dtype_size(g.dtype());
}

class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf) : leaf_(std::move(leaf)) {}
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    Tensor g = std::move(grads[0]);
    for (auto& hook : leaf_->hooks) {
      Tensor r = hook(g);
      if (r.defined()) {
        MOE_CHECK(r.shape() == leaf_->shape, "gradient hook returned shape ", shape_str(r.shape()),
                  " for a leaf of shape ", shape_str(leaf_->shape));
        g = r;
      }
    }
    if (g.dtype() != leaf_->dtype) g = cast(g, leaf_->dtype);
    if (!leaf_->grad) {
      leaf_->grad = sole_owner(g) ? g.impl_ptr() : clone(g).impl_ptr();
    } else {
      Tensor acc(leaf_->grad);
      add_(acc, g);
    }
    if (!leaf_->post_accumulate_hooks.empty()) {
      const Tensor leaf(leaf_);
      auto hooks = leaf_->post_accumulate_hooks;  // a hook may remove hooks
      for (auto& entry : hooks) entry.second(leaf);
    }
    return {};
  }
  std::string name() const override { return "AccumulateGrad"; }

 private:
  std::shared_ptr<TensorImpl> leaf_;
};

std::shared_ptr<Node> grad_accumulator(const Tensor& t) {
  auto acc = t.impl()->grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t.impl_ptr());
    acc->outputs.push_back(meta_of(t));
    acc->sequence_nr = g_sequence++;
    t.impl()->grad_accumulator = acc;
  }
  return acc;
}

Edge edge_of(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return {};
  if (t.grad_fn()) return {t.grad_fn(), t.impl()->output_nr};
  return {grad_accumulator(t), 0};
}

}  // namespace

uint64_t register_post_accumulate_hook(const Tensor& leaf, PostAccumulateHook hook) {
  MOE_CHECK(leaf.defined() && leaf.requires_grad() && leaf.is_leaf(),
            "register_post_accumulate_hook: only leaf tensors that require grad take hooks");
  static std::atomic<uint64_t> next_handle{1};
  const uint64_t h = next_handle++;
  leaf.impl()->post_accumulate_hooks.emplace_back(h, std::move(hook));
  return h;
}

void remove_post_accumulate_hook(const Tensor& leaf, uint64_t handle) {
  auto& hooks = leaf.impl()->post_accumulate_hooks;
  for (auto it = hooks.begin(); it != hooks.end(); ++it)
    if (it->first == handle) {
      hooks.erase(it);
      return;
    }
}

bool GradMode::enabled() { return g_grad_enabled; }
void GradMode::set_enabled(bool e) { g_grad_enabled = e; }

SavedTensor::SavedTensor(const Tensor& t, const char* op) : op_(op) {
  if (t.defined()) {
    t_ = t.detach();
    version_ = t.version();
  }
}

Tensor SavedTensor::get() const {
  if (t_.defined() && t_.version() != version_) {
    std::ostringstream os;
    os << op_ << ": a tensor saved for backward (" << t_.str()
       << ") was modified in place after it was saved (version " << version_ << " at save, now "
       << t_.version() << "); the gradient would be wrong. Clone it before modifying it.";
    throw Error(os.str());
  }
  return t_;
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!GradMode::enabled()) return false;
  for (const auto& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

namespace {
void attach_node(const std::string& name, const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                 BackwardFn fn, StartFn start) {
  auto node = std::make_shared<LambdaNode>(name, std::move(fn), std::move(start));
  node->sequence_nr = g_sequence++;
  for (const auto& in : inputs) node->next_edges.push_back(edge_of(in));
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& out = outputs[i];
    node->outputs.push_back(meta_of(out));
    if (!is_floating(out.dtype())) continue;
    MOE_CHECK(out.impl()->grad_fn == nullptr && !out.requires_grad(),
              name, ": output ", i, " already has autograd history");
    out.impl()->grad_fn = node;
    out.impl()->output_nr = uint32_t(i);
    out.impl()->requires_grad = true;
  }
}
}  // namespace

void attach_grad_fn(const std::string& name, const std::vector<Tensor>& outputs,
                    const std::vector<Tensor>& inputs, BackwardFn fn) {
  attach_node(name, outputs, inputs, std::move(fn), nullptr);
}

std::vector<Tensor> Function::apply(std::shared_ptr<Function> fn, const std::vector<Tensor>& inputs) {
  std::vector<Tensor> outs;
  {
    NoGradGuard g;
    outs = fn->forward(inputs);
  }
  if (needs_grad(inputs)) {
    attach_node(
        fn->name(), outs, inputs, [fn](std::vector<Tensor>& grads) { return fn->backward(grads); },
        [fn](std::vector<Tensor>& grads) { return fn->start_backward(grads); });
  }
  return outs;
}

namespace {

// The gradients arriving for one output of a node. Until a node has started
// a split backward the engine runs strictly newest-first, so each arrival is
// added at once; after that, arrivals can come out of that order and are
// kept, with their producer, to be summed in it when the node runs.
struct GradSlot {
  struct Part {
    uint64_t producer;  // sequence_nr of the node that sent it
    size_t edge;        // which of its edges
    Tensor grad;
  };
  Tensor sum;
  std::vector<Part> parts;

  void add(const Tensor& g, uint64_t producer, size_t edge, bool in_order) {
    if (in_order && parts.empty()) {
      sum = sum.defined() ? moe::add(sum, g) : g;
      return;
    }
    parts.push_back({producer, edge, g});
  }
  Tensor take() {
    std::sort(parts.begin(), parts.end(), [](const Part& a, const Part& b) {
      return a.producer != b.producer ? a.producer > b.producer : a.edge < b.edge;
    });
    Tensor s = std::move(sum);
    for (Part& p : parts) s = s.defined() ? moe::add(s, p.grad) : std::move(p.grad);
    parts.clear();
    return s;
  }
};

}  // namespace

void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads,
                  bool retain_graph) {
  MOE_CHECK(roots.size() == grads.size(), "backward: ", roots.size(), " roots but ", grads.size(), " grads");
  // Input buffers: gradients arriving for each node's outputs.
  std::unordered_map<Node*, std::vector<GradSlot>> buffers;
  std::unordered_map<Node*, int> deps;
  std::vector<std::shared_ptr<Node>> root_nodes;
  bool in_order = true;  // no split backward started yet

  auto accumulate = [&](const Edge& e, const Tensor& g, uint64_t producer, size_t edge) {
    auto& buf = buffers[e.fn.get()];
    if (buf.empty()) buf.resize(e.fn->outputs.size());
    const TensorMeta& m = e.fn->outputs[e.input_nr];
    MOE_CHECK(g.shape() == m.shape, "backward of ", e.fn->name(), ": got a gradient of shape ",
              shape_str(g.shape()), " for an output of shape ", shape_str(m.shape));
    buf[e.input_nr].add(g, producer, edge, in_order);
  };

  NoGradGuard no_grad;
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& r = roots[i];
    MOE_CHECK(r.requires_grad(), "backward: tensor ", r.str(),
              " does not require grad and has no grad_fn (was it computed under NoGradGuard or detached?)");
    Tensor g = grads[i];
    if (!g.defined()) {
      MOE_CHECK(r.numel() == 1, "backward: implicit gradient needs a scalar, got shape ", shape_str(r.shape()),
                "; pass the gradient explicitly");
      g = ones(r.shape(), r.dtype(), r.device());
    }
    MOE_CHECK(g.shape() == r.shape(), "backward: gradient shape ", shape_str(g.shape()),
              " does not match tensor shape ", shape_str(r.shape()));
    Edge e = edge_of(r);
    accumulate(e, g, 0, i);
    root_nodes.push_back(e.fn);
  }

  // Count, for every reachable node, how many edges lead into it.
  std::unordered_set<Node*> seen;
  std::vector<Node*> stack;
  for (auto& n : root_nodes)
    if (seen.insert(n.get()).second) stack.push_back(n.get());
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next_edges) {
      if (!e.fn) continue;
      ++deps[e.fn.get()];
      if (seen.insert(e.fn.get()).second) stack.push_back(e.fn.get());
    }
  }

  auto later_first = [](const std::shared_ptr<Node>& a, const std::shared_ptr<Node>& b) {
    return a->sequence_nr < b->sequence_nr;
  };
  std::priority_queue<std::shared_ptr<Node>, std::vector<std::shared_ptr<Node>>, decltype(later_first)>
      ready(later_first);
  std::unordered_set<Node*> queued;
  for (auto& n : root_nodes)
    if (deps[n.get()] == 0 && queued.insert(n.get()).second) ready.push(n);

  // A node's input gradients go down its edges; its dependents may become ready.
  auto deliver = [&](const std::shared_ptr<Node>& node, const std::vector<Tensor>& out) {
    if (!retain_graph) node->release_saved();
    for (size_t i = 0; i < node->next_edges.size(); ++i) {
      const Edge& e = node->next_edges[i];
      if (!e.fn) continue;
      if (i < out.size() && out[i].defined()) accumulate(e, out[i], node->sequence_nr, i);
      if (--deps[e.fn.get()] == 0 && queued.insert(e.fn.get()).second) ready.push(e.fn);
    }
  };
  // Split backwards in flight, completed oldest first once nothing else is ready.
  std::deque<std::pair<std::shared_ptr<Node>, FinishFn>> started;

  while (!ready.empty() || !started.empty()) {
    if (ready.empty()) {
      auto [node, finish] = std::move(started.front());
      started.pop_front();
      deliver(node, finish());
      continue;
    }
    std::shared_ptr<Node> node = ready.top();
    ready.pop();
    std::vector<Tensor> in;
    {
      auto it = buffers.find(node.get());
      in.resize(node->outputs.size());
      if (it != buffers.end()) {
        for (size_t i = 0; i < it->second.size() && i < in.size(); ++i) in[i] = it->second[i].take();
        buffers.erase(it);
      }
    }
    for (size_t i = 0; i < in.size(); ++i)
      if (!in[i].defined()) {
        const TensorMeta& m = node->outputs[i];
        in[i] = zeros(m.shape, m.dtype, m.device);
      }
    if (FinishFn finish = node->start(in)) {
      in_order = false;
      started.emplace_back(std::move(node), std::move(finish));
      continue;
    }
    std::vector<Tensor> out = node->apply(in);
    in.clear();
    deliver(node, out);
  }
}

}  // namespace moe
