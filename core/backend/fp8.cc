#include "core/backend/fp8.h"

#include "core/backend/kernel_device.h"
#include "core/cuda/fp8.h"
#include "core/ops.h"

#include <cmath>

namespace moe::backend {

Tensor fp8_fprop(const Tensor& x, const Tensor& w, const fp8::GemmRecipe& r, const fp8::ScaleSource& s) {
  switch (kernel_device("fp8_fprop", x, w)) {
    case DeviceType::cpu: return fp8::product(fp8::fprop_operands(x, w, r, s), r);
    case DeviceType::cuda: return cuda::fp8_fprop(x, w, r, s);
  }
  unknown_device("fp8_fprop", x.device().type);
}

Tensor fp8_dgrad(const Tensor& dy, const Tensor& w, const fp8::GemmRecipe& r, const fp8::ScaleSource& s) {
  switch (kernel_device("fp8_dgrad", dy, w)) {
    case DeviceType::cpu: return fp8::product(fp8::dgrad_operands(dy, w, r, s), r);
    case DeviceType::cuda: return cuda::fp8_dgrad(dy, w, r, s);
  }
  unknown_device("fp8_dgrad", dy.device().type);
}

Tensor fp8_wgrad(const Tensor& x, const Tensor& dy, const fp8::GemmRecipe& r, const fp8::ScaleSource& s) {
  switch (kernel_device("fp8_wgrad", x, dy)) {
    case DeviceType::cpu: return fp8::product(fp8::wgrad_operands(x, dy, r, s), r);
    case DeviceType::cuda: return cuda::fp8_wgrad(x, dy, r, s);
  }
  unknown_device("fp8_wgrad", x.device().type);
}

Tensor fp8_fprop_codes(const fp8::QuantizedTensor& xq, const Tensor& w, const fp8::GemmRecipe& r,
                       const fp8::ScaleSource& s) {
  const char* op = "fp8_fprop_codes";
  MOE_CHECK(xq.format == fp8::Format::e4m3 && xq.layout == fp8::Layout::tile_1x128, op,
            ": x must be E4M3 codes in 1x128 tiles");
  MOE_CHECK(xq.codes.defined() && xq.codes.dtype() == DType::f8e4m3 && xq.codes.is_contiguous() &&
                xq.codes.shape() == Shape({xq.rows, xq.cols}),
            op, ": x codes ", xq.codes.defined() ? xq.codes.str() : "undefined", " are not [", xq.rows, ", ",
            xq.cols, "] contiguous f8e4m3");
  const int64_t tiles = xq.rows * fp8::scale_cols(fp8::Layout::tile_1x128, xq.cols);
  MOE_CHECK(xq.scales.defined() && xq.scales.dtype() == DType::f32 && xq.scales.is_contiguous() &&
                xq.scales.numel() == tiles,
            op, ": x scales must be ", tiles, " contiguous f32, got ", xq.scales.defined() ? xq.scales.str() : "none");
  MOE_CHECK(w.dim() == 2 && w.size(0) == xq.cols, op, ": w must be [", xq.cols, ", N], got ", w.str());
  switch (kernel_device(op, xq.codes, w)) {
    case DeviceType::cpu: return fp8::product(fp8::fprop_operands(fp8::to_host(xq), w, r, s), r);
    case DeviceType::cuda: return cuda::fp8_fprop_codes(xq, w, r, s);
  }
  unknown_device(op, w.device().type);
}

namespace {
void check_input(const char* op, const Tensor& x, const std::string& name) {
  MOE_CHECK(x.defined(), op, ": tensor '", name, "' is undefined");
  MOE_CHECK(x.dtype() == DType::f32, op, ": tensor '", name, "' must be f32, got ", x.dtype());
  MOE_CHECK(x.is_contiguous(), op, ": tensor '", name, "' must be contiguous");
  MOE_CHECK(x.dim() >= 1, op, ": tensor '", name, "' must have dim >= 1");
}
fp8::Quantized maybe_transposed(fp8::Quantized q, bool transpose) { return transpose ? fp8::transposed(q) : q; }
}  // namespace

fp8::QuantizedTensor fp8_quantize(const Tensor& x, fp8::Format f, fp8::Layout l, fp8::ScaleRounding r, bool transpose,
                                  const std::string& name) {
  check_input("fp8_quantize", x, name);
  switch (kernel_device("fp8_quantize", x)) {
    case DeviceType::cpu:
      return fp8::to_tensors(maybe_transposed(fp8::quantize(x, f, l, r, name), transpose), x.device());
    case DeviceType::cuda: return cuda::fp8_quantize(x, f, l, r, transpose);
  }
  unknown_device("fp8_quantize", x.device().type);
}

fp8::QuantizedTensor fp8_quantize_with_scale(const Tensor& x, fp8::Format f, float scale, bool transpose,
                                             const std::string& name) {
  check_input("fp8_quantize_with_scale", x, name);
  MOE_CHECK(std::isfinite(scale) && scale > 0, "fp8 quantize_with_scale: tensor '", name,
            "': scale must be finite and > 0, got ", scale);
  switch (kernel_device("fp8_quantize_with_scale", x)) {
    case DeviceType::cpu: {
      const int64_t cols = x.size(x.dim() - 1), rows = cols == 0 ? 0 : x.numel() / cols;
      fp8::Quantized q = fp8::quantize_with_scale(x.data<float>(), rows, cols, f, scale, name);
      return fp8::to_tensors(maybe_transposed(std::move(q), transpose), x.device());
    }
    case DeviceType::cuda: return cuda::fp8_quantize_with_scale(x, f, scale, transpose);
  }
  unknown_device("fp8_quantize_with_scale", x.device().type);
}

void fp8_check_finite(const fp8::QuantizedTensor& q, const Tensor& x, const std::string& name) {
  if (std::isfinite(q.amax.item())) return;
  const Tensor h = host_copy(x);
  const int64_t cols = h.dim() >= 1 ? h.size(h.dim() - 1) : 0;
  fp8::amax(h.data<float>(), h.numel(), name, cols);  // throws, naming the first non-finite element
  throw Error("fp8_check_finite: tensor '" + name + "' changed after it was quantised (amax " +
              std::to_string(q.amax.item()) + ", no non-finite value now)");
}

}  // namespace moe::backend
