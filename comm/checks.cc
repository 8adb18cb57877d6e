#include "comm/checks.h"

#include <numeric>

#include "core/error.h"

namespace moe::comm {

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return "sum";
    case ReduceOp::avg: return "avg";
    case ReduceOp::max: return "max";
  }
  return "?";
}

std::string where(const char* op, const Communicator& c) {
  return std::string(op) + " on group '" + c.name() + "' (rank " + std::to_string(c.rank()) + " of " +
         std::to_string(c.size()) + ")";
}

void check_defined(const Tensor& t, const char* op, const Communicator& c) {
  MOE_CHECK(t.defined(), where(op, c), ": the tensor is undefined");
}

void check_in_place(const Tensor& t, const char* op, const Communicator& c) {
  check_defined(t, op, c);
  MOE_CHECK(t.is_contiguous(), where(op, c), ": writes in place, so the tensor must be contiguous; got ", t.str(),
            " with strides ", shape_str(t.strides()));
}

void check_cpu(const Tensor& t, const char* op, const Communicator& c) {
  MOE_CHECK(t.device().is_cpu(), where(op, c), ": this communicator moves CPU tensors; got ", t.str());
}

void check_reducible(DType t, const char* op, const Communicator& c) {
  MOE_CHECK(t == DType::f32 || t == DType::f64 || t == DType::i32 || t == DType::i64, where(op, c),
            ": reductions support f32, f64, i32 and i64; got ", t, " (cast first)");
}

int64_t check_dim(const Tensor& x, int64_t dim, const char* op, const Communicator& c) {
  check_defined(x, op, c);
  MOE_CHECK(x.dim() > 0, where(op, c), ": needs a tensor with at least one dim; got ", x.str());
  MOE_CHECK(dim >= -x.dim() && dim < x.dim(), where(op, c), ": dim ", dim, " is out of range for ", x.str());
  return dim < 0 ? dim + x.dim() : dim;
}

void check_divisible(const Tensor& x, int64_t dim, const Communicator& c) {
  MOE_CHECK(x.size(dim) % c.size() == 0, where("reduce_scatter", c), ": dim ", dim, " of ", x.str(),
            " (size ", x.size(dim), ") does not divide into ", c.size(), " equal chunks");
}

namespace {
void check_counts(const std::vector<int64_t>& rows, const char* which, const char* op, const Communicator& c) {
  MOE_CHECK(int64_t(rows.size()) == c.size(), where(op, c), ": ", which, " has ", rows.size(),
            " entries, expected one per rank (", c.size(), ")");
  for (size_t p = 0; p < rows.size(); ++p)
    MOE_CHECK(rows[p] >= 0, where(op, c), ": ", which, "[", p, "] = ", rows[p], " is negative");
}
}  // namespace

void check_all_to_all(const Tensor& x, const std::vector<int64_t>& send_rows,
                      const std::vector<int64_t>& recv_rows, const char* op, const Communicator& c) {
  check_defined(x, op, c);
  MOE_CHECK(x.dim() > 0, where(op, c), ": moves rows, so x needs at least one dim; got ", x.str());
  check_counts(send_rows, "send_rows", op, c);
  check_counts(recv_rows, "recv_rows", op, c);
  const int64_t total = std::accumulate(send_rows.begin(), send_rows.end(), int64_t(0));
  MOE_CHECK(total == x.size(0), where(op, c), ": send_rows sum to ", total, " but x ", x.str(), " has ",
            x.size(0), " rows");
}

void check_peer(int peer, const char* op, const Communicator& c) {
  MOE_CHECK(peer >= 0 && peer < c.size(), where(op, c), ": peer/root ", peer, " is not a rank of the group");
}

}  // namespace moe::comm
