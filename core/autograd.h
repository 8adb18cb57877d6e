#pragma once
// Dynamic-graph reverse-mode autograd.
//
// Every differentiable op records a Node holding what its backward needs
// (SavedTensor) and one Edge per input. Backward runs the nodes in reverse
// order of creation once all their gradients have arrived, sums gradients
// that reach a tensor through several paths, and frees each node's saved
// tensors as soon as the node has run (unless retain_graph). Backward
// formulas run with grad mode off: no higher-order gradients.
//
// A node whose backward is communication may start it and complete it
// later (Node::start): the engine runs the other ready nodes meanwhile.
// Gradients reaching a tensor are then summed in the order the serial
// engine would have summed them (by producer, newest first), so an
// overlapped backward is bitwise the serial one.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace moe {

// Grad mode is per thread; NoGradGuard turns graph recording off in a scope.
struct GradMode {
  static bool enabled();
  static void set_enabled(bool e);
};
class NoGradGuard {
 public:
  NoGradGuard() : prev_(GradMode::enabled()) { GradMode::set_enabled(false); }
  ~NoGradGuard() { GradMode::set_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

using FinishFn = std::function<std::vector<Tensor>()>;

struct Edge {
  std::shared_ptr<Node> fn;  // null: the input needs no gradient
  uint32_t input_nr = 0;     // which output of fn the input was
};

struct TensorMeta {
  Shape shape;
  DType dtype;
  Device device;
};

class Node : public std::enable_shared_from_this<Node> {
 public:
  virtual ~Node() = default;
  // grads[i] is the gradient of output i (zeros if it got none); returns one
  // gradient per input (undefined where the input needs none).
  virtual std::vector<Tensor> apply(std::vector<Tensor>& grads) = 0;
  // Split backward: issues it and returns what completes it (the input
  // gradients, as apply() would return them), called once. Null: apply()
  // runs the whole backward now.
  virtual FinishFn start(std::vector<Tensor>& grads) {
    (void)grads;
    return nullptr;
  }
  virtual void release_saved() {}
  virtual std::string name() const = 0;

  std::vector<Edge> next_edges;
  std::vector<TensorMeta> outputs;
  uint64_t sequence_nr = 0;  // creation order: later nodes run first
  bool needs_input_grad(size_t i) const { return i < next_edges.size() && next_edges[i].fn; }
};

// A tensor kept for backward. Holds a detached alias (same storage and version
// counter, no grad_fn: no reference cycle when an op saves its own output) and
// the version at save time; get() throws if it was modified in place since.
class SavedTensor {
 public:
  SavedTensor() = default;
  SavedTensor(const Tensor& t, const char* op);
  Tensor get() const;
  bool defined() const { return t_.defined(); }

 private:
  Tensor t_;
  uint64_t version_ = 0;
  const char* op_ = "";
};

using BackwardFn = std::function<std::vector<Tensor>(std::vector<Tensor>& grads)>;

// True when grad mode is on and any of `inputs` requires a gradient.
bool needs_grad(const std::vector<Tensor>& inputs);

// Records the node of op `name`: `outputs` get it as grad_fn; its edges lead
// to `inputs`. `fn` computes the inputs' gradients from the outputs'. Only
// call when needs_grad(inputs). Non-floating outputs (indices) get no grad_fn.
void attach_grad_fn(const std::string& name, const std::vector<Tensor>& outputs,
                    const std::vector<Tensor>& inputs, BackwardFn fn);

// User-defined differentiable functions (the collectives use this): derive,
// implement forward (called with grad mode off) and backward, then call
// apply(). State for backward goes into members (use SavedTensor for tensors).
class Function {
 public:
  virtual ~Function() = default;
  virtual std::string name() const = 0;
  virtual std::vector<Tensor> forward(const std::vector<Tensor>& inputs) = 0;
  virtual std::vector<Tensor> backward(const std::vector<Tensor>& grad_outputs) = 0;
  // A communication backward that can overlap other nodes (Node::start):
  // returns its completion, or null to have backward() run instead.
  virtual FinishFn start_backward(const std::vector<Tensor>& grad_outputs) {
    (void)grad_outputs;
    return nullptr;
  }
  // Runs forward and, when needed, records a node that calls backward.
  static std::vector<Tensor> apply(std::shared_ptr<Function> fn, const std::vector<Tensor>& inputs);
};

// Hook on a leaf that runs once per backward that reaches it, after the
// leaf's gradient has been accumulated into .grad: it sees the final .grad of
// that backward (earlier micro-batches included), unlike register_hook's,
// which run before accumulation. Gradient synchronisation uses it to start a
// bucket's all-reduce as soon as the bucket's gradients are final. Returns a
// handle for remove_post_accumulate_hook.
using PostAccumulateHook = std::function<void(const Tensor& leaf)>;
uint64_t register_post_accumulate_hook(const Tensor& leaf, PostAccumulateHook hook);
// Removes the hook with `handle` (no-op if it is gone already).
void remove_post_accumulate_hook(const Tensor& leaf, uint64_t handle);

// Runs backward from `roots` with `grads` (undefined entries: ones for scalars).
void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads,
                  bool retain_graph);

}  // namespace moe
