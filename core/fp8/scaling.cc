#include "core/fp8/scaling.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <sstream>

#include "core/dtype_convert.h"
#include "core/error.h"

namespace moe::fp8 {

const char* format_name(Format f) { return f == Format::e4m3 ? "e4m3" : "e5m2"; }
const char* layout_name(Layout l) {
  switch (l) {
    case Layout::per_tensor: return "per_tensor";
    case Layout::tile_1x128: return "tile_1x128";
    case Layout::block_128x128: return "block_128x128";
  }
  return "?";
}

float format_max(Format f) { return f == Format::e4m3 ? 448.0f : 57344.0f; }

uint8_t to_code(float x, Format f) {
  return f == Format::e4m3 ? fp::f32_to_e4m3(x, /*saturate=*/true) : fp::f32_to_e5m2(x, /*saturate=*/true);
}
float from_code(uint8_t code, Format f) {
  return f == Format::e4m3 ? fp::e4m3_to_f32(code) : fp::e5m2_to_f32(code);
}

namespace {

[[noreturn]] void fail_nonfinite(const std::string& name, float v, int64_t i, int64_t cols) {
  std::ostringstream os;
  os << "fp8 quantize: tensor '" << name << "' has a non-finite value " << v << " at ";
  if (cols > 0) os << "[" << i / cols << ", " << i % cols << "]";
  else os << "flat index " << i;
  os << " (inf/NaN inputs are rejected, see core/fp8/scaling.h)";
  throw Error(os.str());
}

void check_shape(int64_t rows, int64_t cols, const float* x) {
  MOE_CHECK(rows >= 0 && cols >= 0, "fp8 quantize: bad shape [", rows, ", ", cols, "]");
  MOE_CHECK(x != nullptr || rows * cols == 0, "fp8 quantize: null input");
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

float amax(const float* x, int64_t n, const std::string& name, int64_t cols) {
  float m = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    if (!std::isfinite(v)) fail_nonfinite(name, v, i, cols);
    m = std::max(m, std::fabs(v));
  }
  return m;
}

float scale_from_amax(float a, Format f, ScaleRounding r) {
  MOE_CHECK(std::isfinite(a) && a >= 0, "fp8 scale_from_amax: amax must be finite and >= 0, got ", a);
  if (a == 0) return 1.0f;
  if (r == ScaleRounding::pow2_down) {
    // Exact: fmt_max and a are f32, so the double quotient is never rounded
    // onto a power of two it is not (relative gap >= 2^-24 >> 2^-53).
    const double q = double(format_max(f)) / double(a);
    int e;
    std::frexp(q, &e);  // q = m * 2^e, m in [0.5, 1)
    e -= 1;             // 2^e <= q
    e = std::clamp(e, -126, 127);
    return std::ldexp(1.0f, e);
  }
  const float s = format_max(f) / a;
  return std::isfinite(s) ? s : FLT_MAX;
}

int64_t scale_rows(Layout l, int64_t rows) {
  switch (l) {
    case Layout::per_tensor: return 1;
    case Layout::tile_1x128: return rows;
    case Layout::block_128x128: return ceil_div(rows, kTile);
  }
  return 0;
}
int64_t scale_cols(Layout l, int64_t cols) {
  return l == Layout::per_tensor ? 1 : ceil_div(cols, kTile);
}

int64_t Quantized::scale_rows() const { return fp8::scale_rows(layout, rows); }
int64_t Quantized::scale_cols() const { return fp8::scale_cols(layout, cols); }

float Quantized::scale_at(int64_t r, int64_t c) const {
  switch (layout) {
    case Layout::per_tensor: return scales[0];
    case Layout::tile_1x128: return scales[size_t(r * scale_cols() + c / kTile)];
    case Layout::block_128x128: return scales[size_t((r / kTile) * scale_cols() + c / kTile)];
  }
  return 0;
}

Quantized quantize(const float* x, int64_t rows, int64_t cols, Format f, Layout l, ScaleRounding r,
                   const std::string& name) {
  check_shape(rows, cols, x);
  Quantized q;
  q.format = f;
  q.layout = l;
  q.rows = rows;
  q.cols = cols;
  q.amax = amax(x, rows * cols, name, cols);  // also rejects inf/NaN, row-major first
  q.codes.resize(size_t(rows * cols));
  const int64_t sr = q.scale_rows(), sc = q.scale_cols();
  q.scales.assign(size_t(std::max<int64_t>(sr * sc, 1)), 1.0f);
  // Tile extents: a tile is rows [r0, r1) x cols [c0, c1).
  const int64_t th = (l == Layout::per_tensor) ? std::max<int64_t>(rows, 1) : (l == Layout::tile_1x128 ? 1 : kTile);
  const int64_t tw = (l == Layout::per_tensor) ? std::max<int64_t>(cols, 1) : kTile;
  for (int64_t ti = 0; ti < sr; ++ti) {
    for (int64_t tj = 0; tj < sc; ++tj) {
      const int64_t r0 = ti * th, r1 = std::min(rows, r0 + th);
      const int64_t c0 = tj * tw, c1 = std::min(cols, c0 + tw);
      float a = 0;
      for (int64_t i = r0; i < r1; ++i)
        for (int64_t j = c0; j < c1; ++j) a = std::max(a, std::fabs(x[i * cols + j]));
      const float s = scale_from_amax(a, f, r);
      q.scales[size_t(ti * sc + tj)] = s;
      for (int64_t i = r0; i < r1; ++i)
        for (int64_t j = c0; j < c1; ++j) q.codes[size_t(i * cols + j)] = to_code(x[i * cols + j] * s, f);
    }
  }
  return q;
}

Quantized quantize_with_scale(const float* x, int64_t rows, int64_t cols, Format f, float scale,
                              const std::string& name) {
  check_shape(rows, cols, x);
  MOE_CHECK(std::isfinite(scale) && scale > 0, "fp8 quantize_with_scale: tensor '", name,
            "': scale must be finite and > 0, got ", scale);
  Quantized q;
  q.format = f;
  q.layout = Layout::per_tensor;
  q.rows = rows;
  q.cols = cols;
  q.amax = amax(x, rows * cols, name, cols);
  q.scales = {scale};
  q.codes.resize(size_t(rows * cols));
  for (int64_t i = 0; i < rows * cols; ++i) q.codes[size_t(i)] = to_code(x[i] * scale, f);
  return q;
}

std::vector<float> dequantize(const Quantized& q) {
  std::vector<float> out(size_t(q.rows * q.cols));
  for (int64_t i = 0; i < q.rows; ++i)
    for (int64_t j = 0; j < q.cols; ++j) out[size_t(i * q.cols + j)] = q.value(i, j) / q.scale_at(i, j);
  return out;
}

Quantized quantize(const Tensor& x, Format f, Layout l, ScaleRounding r, const std::string& name) {
  MOE_CHECK(x.defined(), "fp8 quantize: tensor '", name, "' is undefined");
  MOE_CHECK(x.dtype() == DType::f32, "fp8 quantize: tensor '", name, "' must be f32, got ", x.dtype());
  MOE_CHECK(x.device().is_cpu(), "fp8 quantize: tensor '", name, "' must be on the CPU");
  MOE_CHECK(x.is_contiguous(), "fp8 quantize: tensor '", name, "' must be contiguous");
  MOE_CHECK(x.dim() >= 1, "fp8 quantize: tensor '", name, "' must have dim >= 1");
  const int64_t cols = x.size(x.dim() - 1);
  const int64_t rows = cols == 0 ? 0 : x.numel() / cols;
  return quantize(x.data<float>(), rows, cols, f, l, r, name);
}

// ---- AmaxHistory ----

AmaxHistory::AmaxHistory(int64_t length) {
  MOE_CHECK(length >= 1, "AmaxHistory: length must be >= 1, got ", length);
  hist_.assign(size_t(length), 0.0f);
}

AmaxHistory::AmaxHistory(std::vector<float> values) : hist_(std::move(values)) {
  MOE_CHECK(!hist_.empty(), "AmaxHistory: empty history");
  for (float v : hist_) MOE_CHECK(std::isfinite(v) && v >= 0, "AmaxHistory: bad amax ", v);
}

float AmaxHistory::max_amax() const { return *std::max_element(hist_.begin(), hist_.end()); }

float AmaxHistory::scale(Format f, ScaleRounding r) const { return scale_from_amax(max_amax(), f, r); }

void AmaxHistory::update(float a) {
  MOE_CHECK(std::isfinite(a) && a >= 0, "AmaxHistory::update: amax must be finite and >= 0, got ", a);
  hist_[size_t(head_)] = a;  // overwrite the oldest
  head_ = (head_ + 1) % length();
}

std::vector<float> AmaxHistory::values() const {
  std::vector<float> out;
  out.reserve(hist_.size());
  for (int64_t i = 0; i < length(); ++i) out.push_back(hist_[size_t((head_ + i) % length())]);
  return out;
}

}  // namespace moe::fp8
