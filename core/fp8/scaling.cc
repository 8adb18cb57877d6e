#include "core/fp8/scaling.h"

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

#include "core/dtype_convert.h"
#include "core/error.h"
#include "core/kernels/fp8_math.h"
#include "core/ops.h"

namespace moe::fp8 {

static_assert(int(Layout::per_tensor) == fp8_math::per_tensor && int(Layout::tile_1x128) == fp8_math::tile_1x128 &&
              int(Layout::block_128x128) == fp8_math::block_128x128 &&
              int(Layout::tile_128x1) == fp8_math::tile_128x1);
static_assert(kTile == fp8_math::kTile);

const char* format_name(Format f) { return f == Format::e4m3 ? "e4m3" : "e5m2"; }
const char* layout_name(Layout l) {
  switch (l) {
    case Layout::per_tensor: return "per_tensor";
    case Layout::tile_1x128: return "tile_1x128";
    case Layout::block_128x128: return "block_128x128";
    case Layout::tile_128x1: return "tile_128x1";
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

// Saturating RNE f32 -> FP8 without branches, for finite or infinite x
// (not NaN), so that loops over it vectorise. With m mantissa bits, bias b
// and smallest normal 2^emin:
//   |x| >= 2^emin: round the f32 bit pattern to m mantissa bits (adding
//     half an ulp minus one plus the kept lsb: ties to even; a carry moves
//     into the exponent), then rebias the exponent field;
//   |x| <  2^emin: the FP8 subnormals are the multiples of q = 2^(emin - m):
//     (|x| + q 2^23) - q 2^23 rounds to one in f32 hardware RNE, and
//     |x| / q is the code (2^m: the smallest normal, the same code);
//   codes beyond the largest finite one (including inf) saturate.
// (Selects are written as masks and floats moved with bit_cast so that GCC
// if-converts and vectorises the loops.)
template <int M, int Bias, uint32_t MaxCode>
inline uint8_t encode_fast(float x) {
  constexpr int kEmin = 1 - Bias;
  constexpr uint32_t kMinNormalBits = uint32_t(127 + kEmin) << 23;
  constexpr float kMagic = float(1u << (23 + kEmin - M));  // q 2^23
  constexpr float kInvQ = float(1u << (M - kEmin));
  const uint32_t u = std::bit_cast<uint32_t>(x);
  const uint32_t sign = (u >> 24) & 0x80u;
  const uint32_t a = u & 0x7FFFFFFFu;
  const uint32_t lsb = (a >> (23 - M)) & 1u;
  const uint32_t normal = ((a + ((1u << (22 - M)) - 1u) + lsb) >> (23 - M)) - (uint32_t(127 - Bias) << M);
  const uint32_t sub_mask = 0u - uint32_t(a < kMinNormalBits);
  const float as = std::bit_cast<float>(a & sub_mask);  // 0 where unused: stays in range
  const uint32_t sub = uint32_t(int32_t(((as + kMagic) - kMagic) * kInvQ));
  uint32_t code = (sub & sub_mask) | (normal & ~sub_mask);
  code = std::min(code, MaxCode);  // normal >= 2^M > 0 here, so unsigned min saturates
  return uint8_t(code | sign);
}

template <int M, int Bias, uint32_t MaxCode>
void codes_of(const float* x, float scale, int64_t n, uint8_t* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = encode_fast<M, Bias, MaxCode>(x[i] * scale);
}
template <int M, int Bias, uint32_t MaxCode>
void codes_of(const float* x, const float* scale, int64_t n, uint8_t* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = encode_fast<M, Bias, MaxCode>(x[i] * scale[i]);
}

// max(m, |x[i]|) over n values. Non-negative floats order like their bit
// patterns as unsigned integers (|NaN| above inf), and an integer max
// vectorises (a float one does not without -ffast-math); a max is exact in
// any order.
inline float abs_max(const float* x, int64_t n, float m = 0.0f) {
  uint32_t b = std::bit_cast<uint32_t>(m);
  for (int64_t i = 0; i < n; ++i) b = std::max(b, std::bit_cast<uint32_t>(x[i]) & 0x7FFFFFFFu);
  return std::bit_cast<float>(b);
}

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

// Height and width of a layout's tiles for a [rows, cols] operand.
int64_t tile_rows(Layout l, int64_t rows) { return fp8_math::tile_rows(int(l), rows); }
int64_t tile_cols(Layout l, int64_t cols) { return fp8_math::tile_cols(int(l), cols); }

// Below this many elements the quantisation loops stay on one thread.
constexpr int64_t kParallelElements = int64_t(1) << 15;

// from_code without branches (vectorises): normal codes rebias their
// exponent into an f32 bit pattern, subnormals are m 2^(1 - bias - M);
// e4m3's S.1111.111 and e5m2's exponent 31 are NaN / inf.
template <int M, int Bias, bool Ieee>
void decode_fast(const uint8_t* codes, int64_t n, float* out) {
  constexpr float kSub = float(1.0 / double(1ull << (Bias - 1 + M)));
  constexpr uint32_t kExpAll = (1u << (7 - M)) - 1;
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t c = codes[i], e = (c >> M) & kExpAll, m = c & ((1u << M) - 1);
    const uint32_t normal = ((e + uint32_t(127 - Bias)) << 23) | (m << (23 - M));
    const uint32_t sub = std::bit_cast<uint32_t>(float(m) * kSub);
    const uint32_t sub_mask = 0u - uint32_t(e == 0);
    uint32_t v = (sub & sub_mask) | (normal & ~sub_mask);
    if constexpr (Ieee) {  // exponent all ones: inf (m = 0) or NaN
      const uint32_t special = 0u - uint32_t(e == kExpAll);
      v = (v & ~special) | ((0x7F800000u | (m << 20)) & special);
    } else {  // S.1111.111: NaN
      const uint32_t nan = 0u - uint32_t((c & 0x7F) == 0x7F);
      v = (v & ~nan) | (0x7FC00000u & nan);
    }
    out[i] = std::bit_cast<float>(v | ((c & 0x80u) << 24));
  }
}

}  // namespace

void to_codes(const float* x, float scale, int64_t n, Format f, uint8_t* out) {
  if (f == Format::e4m3) codes_of<3, 7, 0x7E>(x, scale, n, out);
  else codes_of<2, 15, 0x7B>(x, scale, n, out);
}
void to_codes(const float* x, const float* scale, int64_t n, Format f, uint8_t* out) {
  if (f == Format::e4m3) codes_of<3, 7, 0x7E>(x, scale, n, out);
  else codes_of<2, 15, 0x7B>(x, scale, n, out);
}

float amax(const float* x, int64_t n, const std::string& name, int64_t cols) {
  // One vectorised pass: |inf| and |NaN| have the largest bit patterns, so a
  // maximum at or past inf's means a non-finite value, which a second scan
  // locates.
  const float m = abs_max(x, n);
  if (!(m <= FLT_MAX))
    for (int64_t i = 0; i < n; ++i)
      if (!std::isfinite(x[i])) fail_nonfinite(name, x[i], i, cols);
  return m;
}

float scale_from_amax(float a, Format f, ScaleRounding r) {
  MOE_CHECK(std::isfinite(a) && a >= 0, "fp8 scale_from_amax: amax must be finite and >= 0, got ", a);
  return fp8_math::scale_from_amax(a, format_max(f), r == ScaleRounding::pow2_down);
}

int64_t scale_rows(Layout l, int64_t rows) { return fp8_math::scale_rows(int(l), rows); }
int64_t scale_cols(Layout l, int64_t cols) { return fp8_math::scale_cols(int(l), cols); }

int64_t Quantized::scale_rows() const { return fp8::scale_rows(layout, rows); }
int64_t Quantized::scale_cols() const { return fp8::scale_cols(layout, cols); }

float Quantized::scale_at(int64_t r, int64_t c) const {
  return scales[size_t(fp8_math::scale_index(int(layout), r, c, scale_cols()))];
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
  // Tiles are rows [ti*th, ...) x cols [tj*tw, ...); ragged edge tiles are
  // smaller. Two row-major passes: each tile's amax (and scale), then the
  // codes. Tiles are independent, so threading changes no bit.
  const int64_t th = tile_rows(l, rows), tw = tile_cols(l, cols);
  const bool par = rows * cols >= kParallelElements;
  if (l == Layout::per_tensor) {
    q.scales[0] = scale_from_amax(q.amax, f, r);
  } else {
#pragma omp parallel for schedule(static) if (par)
    for (int64_t ti = 0; ti < sr; ++ti) {
      float* s = q.scales.data() + ti * sc;  // this row of tiles' amaxes, then scales
      std::fill(s, s + sc, 0.0f);
      for (int64_t i = ti * th; i < std::min(rows, (ti + 1) * th); ++i) {
        const float* xi = x + i * cols;
        if (tw == 1) {  // tile_128x1: one scale per column
          for (int64_t j = 0; j < cols; ++j) s[j] = abs_max(xi + j, 1, s[j]);
        } else {
          for (int64_t tj = 0; tj < sc; ++tj) {
            const int64_t c0 = tj * tw;
            s[tj] = abs_max(xi + c0, std::min(cols - c0, tw), s[tj]);
          }
        }
      }
      for (int64_t tj = 0; tj < sc; ++tj) s[tj] = scale_from_amax(s[tj], f, r);
    }
  }
#pragma omp parallel for schedule(static) if (par)
  for (int64_t i = 0; i < rows; ++i) {
    const float* s = q.scales.data() + (i / th) * sc;
    const float* xi = x + i * cols;
    uint8_t* ci = q.codes.data() + i * cols;
    if (tw == 1) {
      to_codes(xi, s, cols, f, ci);
    } else {
      for (int64_t tj = 0; tj < sc; ++tj) {
        const int64_t c0 = tj * tw, c1 = std::min(cols, c0 + tw);
        to_codes(xi + c0, s[tj], c1 - c0, f, ci + c0);
      }
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
  const int64_t n = rows * cols, block = 1 << 14;
#pragma omp parallel for schedule(static) if (n >= kParallelElements)
  for (int64_t b = 0; b < n; b += block) to_codes(x + b, scale, std::min(block, n - b), f, q.codes.data() + b);
  return q;
}

std::vector<float> dequantize(const Quantized& q) {
  std::vector<float> out(size_t(q.rows * q.cols));
  for (int64_t i = 0; i < q.rows; ++i)
    for (int64_t j = 0; j < q.cols; ++j) out[size_t(i * q.cols + j)] = q.value(i, j) / q.scale_at(i, j);
  return out;
}

void values(const Quantized& q, float* out) {
  const int64_t n = int64_t(q.codes.size()), block = 1 << 14;
#pragma omp parallel for schedule(static) if (n >= kParallelElements)
  for (int64_t b = 0; b < n; b += block) {
    if (q.format == Format::e4m3) decode_fast<3, 7, false>(q.codes.data() + b, std::min(block, n - b), out + b);
    else decode_fast<2, 15, true>(q.codes.data() + b, std::min(block, n - b), out + b);
  }
}

std::vector<float> values(const Quantized& q) {
  std::vector<float> out(q.codes.size());
  values(q, out.data());
  return out;
}

Quantized transposed(const Quantized& q) {
  Quantized t;
  t.format = q.format;
  t.amax = q.amax;
  t.rows = q.cols;
  t.cols = q.rows;
  t.layout = q.layout == Layout::tile_1x128 ? Layout::tile_128x1
             : q.layout == Layout::tile_128x1 ? Layout::tile_1x128
                                              : q.layout;
  t.codes.resize(q.codes.size());
  // In 32 x 32 blocks, so that reads and writes both stay in cache lines.
  constexpr int64_t kB = 32;
  const int64_t R = q.rows, C = q.cols;
#pragma omp parallel for schedule(static) if (R * C >= kParallelElements)
  for (int64_t i0 = 0; i0 < R; i0 += kB)
    for (int64_t j0 = 0; j0 < C; j0 += kB)
      for (int64_t i = i0; i < std::min(R, i0 + kB); ++i)
        for (int64_t j = j0; j < std::min(C, j0 + kB); ++j) t.codes[size_t(j * R + i)] = q.codes[size_t(i * C + j)];
  const int64_t sr = q.scale_rows(), sc = q.scale_cols();
  t.scales.resize(q.scales.size());
  if (q.layout == Layout::per_tensor || sr * sc == 0) {  // one scale, or the empty grid's placeholder
    t.scales = q.scales;
  } else {
    for (int64_t i = 0; i < sr; ++i)
      for (int64_t j = 0; j < sc; ++j) t.scales[size_t(j * sr + i)] = q.scales[size_t(i * sc + j)];
  }
  return t;
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

QuantizedTensor to_tensors(const Quantized& q, Device device) {
  QuantizedTensor t;
  t.format = q.format;
  t.layout = q.layout;
  t.rows = q.rows;
  t.cols = q.cols;
  Tensor codes = empty({q.rows, q.cols}, q.format == Format::e4m3 ? DType::f8e4m3 : DType::f8e5m2);
  if (!q.codes.empty()) std::memcpy(codes.raw_data(), q.codes.data(), q.codes.size());
  Tensor scales = empty({int64_t(q.scales.size())}, DType::f32);
  std::memcpy(scales.raw_data(), q.scales.data(), q.scales.size() * sizeof(float));
  Tensor amax = empty({1}, DType::f32);
  *amax.data<float>() = q.amax;
  t.codes = codes.to(device);
  t.scales = scales.to(device);
  t.amax = amax.to(device);
  return t;
}

Quantized to_host(const QuantizedTensor& t) {
  Quantized q;
  q.format = t.format;
  q.layout = t.layout;
  q.rows = t.rows;
  q.cols = t.cols;
  const Tensor codes = host_copy(t.codes), scales = host_copy(t.scales);
  q.codes.resize(size_t(codes.numel()));
  if (!q.codes.empty()) std::memcpy(q.codes.data(), codes.raw_data(), q.codes.size());
  q.scales.resize(size_t(scales.numel()));
  std::memcpy(q.scales.data(), scales.raw_data(), q.scales.size() * sizeof(float));
  q.amax = t.amax.defined() ? *host_copy(t.amax).data<float>() : 0.0f;
  return q;
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
