#pragma once
// The op table: every op with its shape cases. One table drives the f64
// gradient check against central finite differences, the 1-vs-N-thread
// determinism check, the low-precision (bf16) forward check and, later, the
// CPU-vs-CUDA parity run. Each op group registers its cases from its own file
// (optable_<group>.cc) with a static RegisterOps.
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "core/ops.h"

namespace moe::test {

// Makes one input. `t` is the floating dtype under test (f64 for gradient
// checks, f32 for determinism); index inputs ignore it.
using InputFn = std::function<Tensor(DType t, uint64_t seed)>;

struct OpInput {
  InputFn make;
  bool differentiable = true;  // floating input whose gradient is checked
};

struct OpCase {
  std::string name;  // "<op>/<case>", letters, digits and '_' only besides '/'
  std::vector<OpInput> inputs;
  // Runs the op; returns its floating output (for ops with several outputs,
  // the differentiable one, or several combined).
  std::function<Tensor(const std::vector<Tensor>&)> fn;
  bool differentiable = true;  // false: only determinism/low-precision checks
  bool low_precision = true;   // run the bf16 forward check
};

std::vector<OpCase>& op_table();
// gtest prints a failing parameter with this instead of a byte dump.
inline void PrintTo(const OpCase& c, std::ostream* os) { *os << c.name; }
struct RegisterOps {
  explicit RegisterOps(std::vector<OpCase> cases);
};

// ---- input makers ----
// Normal values.
OpInput randn_in(Shape s);
// Values in [lo, hi) (e.g. positive for log/sqrt).
OpInput uniform_in(Shape s, double lo, double hi);
// A non-contiguous view of shape s (a transpose of the last two dims of a
// contiguous tensor, or a strided slice for rank 1).
OpInput noncontig_in(Shape s);
// Integer indices in [0, hi) (i64), not differentiable.
OpInput index_in(Shape s, int64_t hi);
// A fixed tensor (not differentiable), e.g. a mask or explicit indices.
OpInput const_in(std::function<Tensor()> make);

}  // namespace moe::test
