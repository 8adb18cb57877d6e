// Creation, copy and cast ops.
#include "core/backend/copy.h"
#include "core/ops/op_utils.h"

namespace moe {

Tensor empty(const Shape& s, DType t, Device d) {
  for (int64_t x : s) MOE_CHECK(x >= 0, "empty: negative size in shape ", shape_str(s));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(size_t(shape_numel(s)) * dtype_size(t), allocator_for(d));
  impl->shape = s;
  impl->strides = contiguous_strides(s);
  impl->dtype = t;
  return Tensor(impl);
}

Tensor full(const Shape& s, double value, DType t, Device d) {
  Tensor x = empty(s, t, d);
  backend::fill(x, value);
  return x;
}
Tensor zeros(const Shape& s, DType t, Device d) { return full(s, 0.0, t, d); }
Tensor ones(const Shape& s, DType t, Device d) { return full(s, 1.0, t, d); }
Tensor zeros_like(const Tensor& x) { return zeros(x.shape(), x.dtype(), x.device()); }
Tensor ones_like(const Tensor& x) { return ones(x.shape(), x.dtype(), x.device()); }
Tensor scalar_tensor(double v, DType t, Device d) { return full({}, v, t, d); }

Tensor arange(int64_t start, int64_t end, int64_t step, DType t) {
  MOE_CHECK(step != 0, "arange: step must be non-zero");
  const int64_t n = std::max<int64_t>(0, (end - start + step + (step > 0 ? -1 : 1)) / step);
  Tensor idx = empty({n}, DType::i64);  // exact integers, written on the host, then converted
  int64_t* p = idx.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) p[i] = start + i * step;
  return cast(idx, t);
}

Tensor from_vector(const std::vector<double>& v, const Shape& s, DType t, Device d) {
  MOE_CHECK(int64_t(v.size()) == shape_numel(s), "from_vector: ", v.size(), " values for shape ",
            shape_str(s));
  Tensor src = empty(s, DType::f64);  // a host tensor: the values are written on the host
  std::copy(v.begin(), v.end(), src.data<double>());
  Tensor out = src;
  if (t != DType::f64) {
    out = empty(s, t);
    backend::copy_strided(out, src, false);
  }
  return to_device(out, d);
}

Tensor rand(const Shape& s, uint64_t seed, uint64_t stream, DType t) {
  Tensor x = empty(s, t);
  backend::fill_uniform(x, seed, stream);
  return x;
}

Tensor randn(const Shape& s, uint64_t seed, uint64_t stream, DType t) {
  Tensor x = empty(s, t);
  backend::fill_normal(x, seed, stream);
  return x;
}

Tensor clone(const Tensor& x) {
  check_defined("clone", x);
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  backend::copy_strided(out, x, false);
  if (needs_grad({x})) attach_grad_fn("clone", {out}, {x}, [](std::vector<Tensor>& g) { return g; });
  return out;
}

Tensor cast(const Tensor& x, DType t, bool saturate) {
  check_defined("cast", x);
  if (x.dtype() == t) return x;
  Tensor out = empty(x.shape(), t, x.device());
  backend::copy_strided(out, x, saturate);
  if (is_floating(t) && is_floating(x.dtype()) && needs_grad({x})) {
    const DType from = x.dtype();
    attach_grad_fn("cast", {out}, {x}, [from](std::vector<Tensor>& g) {
      return std::vector<Tensor>{cast(g[0], from)};
    });
  }
  return out;
}

Tensor to_device(const Tensor& x, Device d) {
  check_defined("to_device", x);
  if (x.device() == d) return x;
  const Tensor src = contiguous(x.detach());
  Tensor out = empty(x.shape(), x.dtype(), d);
  backend::copy_between_devices(out, src);
  if (needs_grad({x})) {
    const Device from = x.device();
    attach_grad_fn("to_device", {out}, {x}, [from](std::vector<Tensor>& g) {
      return std::vector<Tensor>{to_device(g[0], from)};
    });
  }
  return out;
}

Tensor host_copy(const Tensor& x) {
  check_defined("host_copy", x);
  return x.device().is_cpu() ? x.detach() : to_device(x.detach(), Device::cpu());
}

Upload::Upload(const Tensor& host, Device d) {
  check_defined("Upload", host);
  MOE_CHECK(host.device().is_cpu(), "Upload: the source must be on the host, got ", host.str());
  const Tensor src = contiguous(host.detach());
  if (d.is_cpu()) {
    t_ = src;
    return;
  }
  t_ = backend::upload_ahead(src, d, &ticket_);
}
Upload::Upload(Upload&& o) noexcept : t_(std::move(o.t_)), ticket_(o.ticket_) { o.ticket_ = nullptr; }
Upload& Upload::operator=(Upload&& o) noexcept {
  if (this != &o) {
    finish();
    t_ = std::move(o.t_);
    ticket_ = o.ticket_;
    o.ticket_ = nullptr;
  }
  return *this;
}
Upload::~Upload() {
  try {
    finish();
  } catch (...) {  // a destructor must not throw; the stream's error surfaces at the next sync
  }
}
void Upload::finish() {
  if (!ticket_) return;
  void* t = ticket_;
  ticket_ = nullptr;
  backend::finish_upload(t_, t);
}
Tensor Upload::take() {
  MOE_CHECK(t_.defined(), "Upload::take: nothing to take (taken already, or never started)");
  finish();
  return std::move(t_);
}

static void check_inplace(const char* op, const Tensor& dst) {
  MOE_CHECK(!(GradMode::enabled() && dst.requires_grad()), op, ": in-place write to ", dst.str(),
            " which requires grad; in-place ops are not recorded by autograd (use NoGradGuard, or an "
            "out-of-place op)");
}

void copy_(Tensor& dst, const Tensor& src) {
  check_inplace("copy_", dst);
  check_same_device("copy_", dst, src);
  MOE_CHECK(src.dim() <= dst.dim() && broadcast_shapes(dst.shape(), src.shape(), "copy_") == dst.shape(),
            "copy_: cannot broadcast ", shape_str(src.shape()), " to ", shape_str(dst.shape()));
  // A source that aliases the destination is copied out first.
  Tensor s = src.storage() == dst.storage() ? clone(src.detach()) : src;
  backend::copy_strided(dst, s, false);
  dst.bump_version();
}

void fill_(Tensor& dst, double value) {
  check_inplace("fill_", dst);
  backend::fill(dst, value);
  dst.bump_version();
}

void add_(Tensor& dst, const Tensor& src, double alpha) {
  check_inplace("add_", dst);
  check_same_device("add_", dst, src);
  NoGradGuard g;
  Tensor r = alpha == 1.0 ? add(dst.detach(), src) : add(dst.detach(), mul(src.detach(), alpha));
  backend::copy_strided(dst, r, false);
  dst.bump_version();
}

void mul_(Tensor& dst, double value) {
  check_inplace("mul_", dst);
  NoGradGuard g;
  Tensor r = mul(dst.detach(), value);
  backend::copy_strided(dst, r, false);
  dst.bump_version();
}

}  // namespace moe
