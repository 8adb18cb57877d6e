#include "core/tensor.h"

#include <sstream>

#include "core/autograd.h"
#include "core/dtype_switch.h"
#include "core/ops.h"

namespace moe {

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (int64_t i = int64_t(s.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= std::max<int64_t>(s[i], 1);
  }
  return st;
}

int64_t wrap_dim(int64_t d, int64_t ndim, const char* op) {
  const int64_t n = std::max<int64_t>(ndim, 1);
  MOE_CHECK(d >= -n && d < n, op, ": dim ", d, " out of range for a tensor of rank ", ndim);
  return d < 0 ? d + n : d;
}

int64_t Tensor::size(int64_t d) const { return impl_->shape[wrap_dim(d, dim(), "size")]; }
int64_t Tensor::stride(int64_t d) const { return impl_->strides[wrap_dim(d, dim(), "stride")]; }
Device Tensor::device() const { return impl_->storage ? impl_->storage->device() : Device::cpu(); }

bool Tensor::is_contiguous() const {
  if (numel() == 0) return true;  // no element is out of place, whatever the strides
  int64_t expected = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (impl_->shape[i] == 1) continue;
    if (impl_->strides[i] != expected) return false;
    expected *= impl_->shape[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  if (!impl_->storage || !impl_->storage->data()) return nullptr;
  return static_cast<char*>(impl_->storage->data()) + impl_->offset * int64_t(dtype_size(dtype()));
}

void Tensor::throw_host_access() const {
  throw Error("host code read the data of " + str() +
              " directly; a device tensor reaches the host only through host_copy, to_device or item()");
}

std::vector<double> Tensor::to_vector() const {
  Tensor c = moe::contiguous(moe::cast(host_copy(*this), DType::f64));
  const double* p = c.data<double>();
  return std::vector<double>(p, p + c.numel());
}

double Tensor::item() const {
  MOE_CHECK(numel() == 1, "item: tensor of shape ", shape_str(shape()), " has ", numel(),
            " elements, expected 1");
  return to_vector()[0];
}

std::string Tensor::str() const {
  if (!defined()) return "undefined";
  return std::string(dtype_name(dtype())) + shape_str(shape()) + " " + device().str();
}

Tensor& Tensor::set_requires_grad(bool r) {
  MOE_CHECK(!r || is_floating(dtype()), "set_requires_grad: only floating tensors can require grad, got ",
            dtype());
  MOE_CHECK(is_leaf(), "set_requires_grad: only leaf tensors can be marked; use detach() first");
  impl_->requires_grad = r;
  return *this;
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const {
  run_backward({*this}, {grad}, retain_graph);
}

void Tensor::register_hook(GradHook hook) const {
  MOE_CHECK(requires_grad() && is_leaf(), "register_hook: only leaf tensors that require grad take hooks");
  impl_->hooks.push_back(std::move(hook));
}

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->shape = impl_->shape;
  impl->strides = impl_->strides;
  impl->offset = impl_->offset;
  impl->dtype = impl_->dtype;
  impl->version = impl_->version;
  return Tensor(impl);
}

Tensor Tensor::view(const Shape& s) const { return moe::view(*this, s); }
Tensor Tensor::reshape(const Shape& s) const { return moe::reshape(*this, s); }
Tensor Tensor::permute(const std::vector<int64_t>& d) const { return moe::permute(*this, d); }
Tensor Tensor::transpose(int64_t a, int64_t b) const { return moe::transpose(*this, a, b); }
Tensor Tensor::narrow(int64_t d, int64_t s, int64_t l) const { return moe::narrow(*this, d, s, l); }
Tensor Tensor::select(int64_t d, int64_t i) const { return moe::select(*this, d, i); }
Tensor Tensor::expand(const Shape& s) const { return moe::expand(*this, s); }
Tensor Tensor::unsqueeze(int64_t d) const { return moe::unsqueeze(*this, d); }
Tensor Tensor::squeeze(int64_t d) const { return moe::squeeze(*this, d); }
Tensor Tensor::contiguous() const { return moe::contiguous(*this); }
Tensor Tensor::clone() const { return moe::clone(*this); }
Tensor Tensor::to(DType t) const { return moe::cast(*this, t); }
Tensor Tensor::to(Device d) const { return moe::to_device(*this, d); }

Shape broadcast_strides(const Tensor& t, const Shape& shape) {
  Shape st(shape.size(), 0);
  const int64_t lead = int64_t(shape.size()) - t.dim();
  for (int64_t i = 0; i < t.dim(); ++i)
    st[size_t(lead + i)] = (t.shape()[size_t(i)] == 1 && shape[size_t(lead + i)] != 1) ? 0 : t.strides()[size_t(i)];
  return st;
}

}  // namespace moe
