#pragma once
// Precision of f32 matrix products (matmul, bmm, grouped_matmul), as a
// thread-local setting in the manner of an autocast scope: the model sets it
// from model.matmul_precision around its forward, the router pins fp32 inside
// it, and each product records the precision it ran with so that its backward
// products use the same one. f64 products ignore it.
#include <cstdint>

namespace moe {

enum class MatmulPrecision : uint8_t {
  fp32,  // plain f32
  bf16,  // both operands rounded to bfloat16 (nearest even), products summed in f32
};

const char* matmul_precision_name(MatmulPrecision p);

// This thread's current precision (fp32 unless a scope says otherwise).
MatmulPrecision matmul_precision();

class MatmulPrecisionScope {
 public:
  explicit MatmulPrecisionScope(MatmulPrecision p);
  ~MatmulPrecisionScope();
  MatmulPrecisionScope(const MatmulPrecisionScope&) = delete;
  MatmulPrecisionScope& operator=(const MatmulPrecisionScope&) = delete;

 private:
  MatmulPrecision saved_;
};

}  // namespace moe
