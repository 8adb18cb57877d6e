#include "core/autograd.h"

#include <atomic>
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
class LambdaNode final : public Node {
 public:
  LambdaNode(std::string name, BackwardFn fn) : name_(name), fn_(std::move(fn)) {}
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    MOE_CHECK(fn_ != nullptr, "backward through ", name_,
              " a second time: its saved tensors were freed; pass retain_graph=true to the first backward");
    return fn_(grads);
  }
  void release_saved() override { fn_ = nullptr; }
  std::string name() const override { return name_; }

 private:
  std::string name_;
  BackwardFn fn_;
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

void attach_grad_fn(const std::string& name, const std::vector<Tensor>& outputs,
                    const std::vector<Tensor>& inputs, BackwardFn fn) {
  auto node = std::make_shared<LambdaNode>(name, std::move(fn));
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

std::vector<Tensor> Function::apply(std::shared_ptr<Function> fn, const std::vector<Tensor>& inputs) {
  std::vector<Tensor> outs;
  {
    NoGradGuard g;
    outs = fn->forward(inputs);
  }
  if (needs_grad(inputs)) {
    attach_grad_fn(fn->name(), outs, inputs,
                   [fn](std::vector<Tensor>& grads) { return fn->backward(grads); });
  }
  return outs;
}

void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads,
                  bool retain_graph) {
  MOE_CHECK(roots.size() == grads.size(), "backward: ", roots.size(), " roots but ", grads.size(), " grads");
  // Input buffers: gradients arriving for each node's outputs.
  std::unordered_map<Node*, std::vector<Tensor>> buffers;
  std::unordered_map<Node*, int> deps;
  std::vector<std::shared_ptr<Node>> root_nodes;

  auto accumulate = [&](const Edge& e, const Tensor& g) {
    auto& buf = buffers[e.fn.get()];
    if (buf.empty()) buf.resize(e.fn->outputs.size());
    const TensorMeta& m = e.fn->outputs[e.input_nr];
    MOE_CHECK(g.shape() == m.shape, "backward of ", e.fn->name(), ": got a gradient of shape ",
              shape_str(g.shape()), " for an output of shape ", shape_str(m.shape));
    Tensor& slot = buf[e.input_nr];
    slot = slot.defined() ? add(slot, g) : g;
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
    accumulate(e, g);
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

  while (!ready.empty()) {
    std::shared_ptr<Node> node = ready.top();
    ready.pop();
    std::vector<Tensor> in = std::move(buffers[node.get()]);
    buffers.erase(node.get());
    in.resize(node->outputs.size());
    for (size_t i = 0; i < in.size(); ++i)
      if (!in[i].defined()) {
        const TensorMeta& m = node->outputs[i];
        in[i] = zeros(m.shape, m.dtype, m.device);
      }
    std::vector<Tensor> out = node->apply(in);
    in.clear();
    if (!retain_graph) node->release_saved();
    for (size_t i = 0; i < node->next_edges.size(); ++i) {
      const Edge& e = node->next_edges[i];
      if (!e.fn) continue;
      if (i < out.size() && out[i].defined()) accumulate(e, out[i]);
      if (--deps[e.fn.get()] == 0 && queued.insert(e.fn.get()).second) ready.push(e.fn);
    }
  }
}

}  // namespace moe
