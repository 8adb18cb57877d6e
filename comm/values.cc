// all_reduce_values: small statistics (loss sums, token counts, norms)
// through a tensor so every Communicator handles them.
#include <cstring>

#include "comm/communicator.h"
#include "core/ops.h"

namespace moe::comm {

namespace {
template <typename T>
std::vector<T> reduce_values(Communicator& c, std::vector<T> v, ReduceOp op, DType dtype) {
  Tensor t = empty({int64_t(v.size())}, dtype);
  if (!v.empty()) std::memcpy(t.raw_data(), v.data(), v.size() * sizeof(T));
  c.all_reduce(t, op);
  if (!v.empty()) std::memcpy(v.data(), t.raw_data(), v.size() * sizeof(T));
  return v;
}
}  // namespace

std::vector<double> all_reduce_values(Communicator& c, std::vector<double> v, ReduceOp op) {
  return reduce_values(c, std::move(v), op, DType::f64);
}

std::vector<int64_t> all_reduce_values(Communicator& c, std::vector<int64_t> v, ReduceOp op) {
  return reduce_values(c, std::move(v), op, DType::i64);
}

}  // namespace moe::comm
