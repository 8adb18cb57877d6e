#pragma once
// Tensor: a strided view (shape, strides, offset in elements) of a Storage,
// plus the autograd state. Copying a Tensor copies a handle, not data.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/storage.h"

namespace moe {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);
Shape contiguous_strides(const Shape& s);

class Node;
class Tensor;
using GradHook = std::function<Tensor(const Tensor&)>;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;
  int64_t offset = 0;  // in elements
  DType dtype = DType::f32;
  // Shared by every view of the same storage; bumped by in-place writes.
  std::shared_ptr<uint64_t> version = std::make_shared<uint64_t>(0);

  // autograd
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;  // null for leaves
  uint32_t output_nr = 0;
  std::shared_ptr<TensorImpl> grad;
  std::vector<GradHook> hooks;     // leaves only
  // Leaves only: run after backward has accumulated into .grad (autograd.h,
  // register_post_accumulate_hook); (handle, hook) pairs.
  std::vector<std::pair<uint64_t, std::function<void(const Tensor&)>>> post_accumulate_hooks;
  std::weak_ptr<Node> grad_accumulator;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

  const Shape& shape() const { return impl_->shape; }
  const Shape& strides() const { return impl_->strides; }
  int64_t dim() const { return int64_t(impl_->shape.size()); }
  int64_t size(int64_t d) const;
  int64_t stride(int64_t d) const;
  int64_t numel() const { return shape_numel(impl_->shape); }
  int64_t offset() const { return impl_->offset; }
  DType dtype() const { return impl_->dtype; }
  Device device() const;
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return impl_->storage; }

  // Pointer to element [0,...,0] (storage base + offset), on whatever
  // device the tensor lives: for kernels and copies.
  void* raw_data() const;
  template <typename T>
  T* device_data() const { return static_cast<T*>(raw_data()); }
  // The same pointer for host code: throws for a device tensor, whose
  // values the host reads through host_copy (core/ops.h). The SIM build
  // keeps device memory on the host, so this check is what makes a host
  // read of device data fail there as it would on a GPU.
  template <typename T>
  T* data() const {
    if (!device().is_cpu()) throw_host_access();
    return static_cast<T*>(raw_data());
  }
  // Reads a one-element tensor as double (any dtype, any device: a device
  // tensor is copied to the host).
  double item() const;
  // Copies the elements in logical (row-major) order, converted to double
  // (a device tensor through host_copy, core/ops.h).
  std::vector<double> to_vector() const;
  std::string str() const;  // "f32[2, 3] cpu"

  // ---- autograd ----
  bool requires_grad() const { return impl_->requires_grad; }
  // Marks a leaf as needing a gradient; only floating leaves may.
  Tensor& set_requires_grad(bool r = true);
  bool is_leaf() const { return impl_->grad_fn == nullptr; }
  const std::shared_ptr<Node>& grad_fn() const { return impl_->grad_fn; }
  Tensor grad() const { return impl_->grad ? Tensor(impl_->grad) : Tensor(); }
  void set_grad(const Tensor& g) { impl_->grad = g.impl_; }
  void zero_grad() { impl_->grad.reset(); }
  // Backward from this tensor: a scalar without `grad`, any shape with it.
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;
  // Hook on a leaf: called once per backward with the leaf's total gradient;
  // a defined return value replaces that gradient.
  void register_hook(GradHook hook) const;
  // Same storage and version counter, no autograd history.
  Tensor detach() const;

  uint64_t version() const { return *impl_->version; }
  void bump_version() const { ++*impl_->version; }

  // ---- convenience forwarding to ops (core/ops.h) ----
  Tensor view(const Shape& s) const;
  Tensor reshape(const Shape& s) const;
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor transpose(int64_t a, int64_t b) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor expand(const Shape& s) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze(int64_t dim) const;
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(DType t) const;
  Tensor to(Device d) const;  // to_device (core/ops.h)

 private:
  [[noreturn]] void throw_host_access() const;
  std::shared_ptr<TensorImpl> impl_;
};

// Normalises a possibly negative dim against rank `ndim`; names `op` on error.
int64_t wrap_dim(int64_t d, int64_t ndim, const char* op);
// Strides of `t` broadcast to `shape` (0 where t has size 1 or lacks the dim).
Shape broadcast_strides(const Tensor& t, const Shape& shape);

}  // namespace moe
