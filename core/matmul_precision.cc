#include "core/matmul_precision.h"

namespace moe {

namespace {
thread_local MatmulPrecision g_precision = MatmulPrecision::fp32;
}

const char* matmul_precision_name(MatmulPrecision p) { return p == MatmulPrecision::bf16 ? "bf16" : "fp32"; }

MatmulPrecision matmul_precision() { return g_precision; }

MatmulPrecisionScope::MatmulPrecisionScope(MatmulPrecision p) : saved_(g_precision) { g_precision = p; }
MatmulPrecisionScope::~MatmulPrecisionScope() { g_precision = saved_; }

}  // namespace moe
