#include "checkpoint/finite.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/dtype_convert.h"
#include "core/ops.h"

namespace moe::checkpoint {
namespace {

template <typename F>
void scan(int64_t n, NonFinite& out, F&& classify) {
  for (int64_t i = 0; i < n; ++i) {
    const int c = classify(i);  // 0 finite, 1 nan, 2 +inf, 3 -inf
    if (c == 0) continue;
    if (out.count++ == 0) {
      out.first = i;
      out.first_value = c == 1 ? "nan" : c == 2 ? "inf" : "-inf";
    }
  }
}

int classify_double(double v) { return std::isnan(v) ? 1 : std::isinf(v) ? (v > 0 ? 2 : 3) : 0; }

// A narrow float's code: the formats with IEEE inf have an all-ones
// exponent for inf/NaN; e4m3fn has no inf and one NaN magnitude.
int classify_code(uint32_t code, const fp::FloatFormat& f) {
  const uint32_t mag_bits = uint32_t(f.ebits + f.mbits);
  const uint32_t mag = code & ((1u << mag_bits) - 1);
  const bool neg = (code >> mag_bits) & 1;
  if (!f.ieee_inf) return mag == f.nan_code ? 1 : 0;
  if ((mag >> f.mbits) != (1u << f.ebits) - 1) return 0;
  if (mag & ((1u << f.mbits) - 1)) return 1;
  return neg ? 3 : 2;
}

}  // namespace

NonFinite find_nonfinite(const Tensor& t) {
  NonFinite out;
  if (!t.defined() || !is_floating(t.dtype()) || t.numel() == 0) return out;
  const Tensor c = host_copy(t).contiguous();
  const int64_t n = c.numel();
  switch (c.dtype()) {
    case DType::f64: {
      const double* p = c.data<double>();
      scan(n, out, [&](int64_t i) { return classify_double(p[i]); });
      break;
    }
    case DType::f32: {
      const float* p = c.data<float>();
      scan(n, out, [&](int64_t i) { return classify_double(double(p[i])); });
      break;
    }
    case DType::bf16:
    case DType::f16: {
      const fp::FloatFormat f = c.dtype() == DType::bf16 ? fp::bf16_format() : fp::f16_format();
      const auto* p = static_cast<const uint16_t*>(c.raw_data());
      scan(n, out, [&](int64_t i) { return classify_code(p[i], f); });
      break;
    }
    case DType::f8e4m3:
    case DType::f8e5m2: {
      const fp::FloatFormat f = c.dtype() == DType::f8e4m3 ? fp::e4m3_format() : fp::e5m2_format();
      const auto* p = static_cast<const uint8_t*>(c.raw_data());
      scan(n, out, [&](int64_t i) { return classify_code(p[i], f); });
      break;
    }
    default: break;
  }
  return out;
}

std::string describe(const NonFinite& n) {
  return absl::StrCat(n.count, " non-finite value", n.count == 1 ? "" : "s", " (first: ", n.first_value,
                      " at element ", n.first, ")");
}

}  // namespace moe::checkpoint
