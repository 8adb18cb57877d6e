#include "comm/mpi_util.h"

#include <climits>
#include <string>

#include "comm/checks.h"
#include "core/error.h"

namespace moe::comm {

void check_mpi(int rc, const char* op, const Communicator& c) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {0};
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw Error(where(op, c) + ": MPI error: " + std::string(text, size_t(len)));
}

MPI_Datatype mpi_reduce_type(DType t) {
  switch (t) {
    case DType::f32: return MPI_FLOAT;
    case DType::f64: return MPI_DOUBLE;
    case DType::i32: return MPI_INT32_T;
    case DType::i64: return MPI_INT64_T;
    default: MOE_CHECK(false, "mpi_reduce_type: ", t, " has no MPI reduction type");
  }
}

MPI_Datatype mpi_move_type(DType t) {
  switch (dtype_size(t)) {
    case 1: return MPI_UINT8_T;
    case 2: return MPI_UINT16_T;
    case 4: return MPI_UINT32_T;
    case 8: return MPI_UINT64_T;
  }
  MOE_CHECK(false, "mpi_move_type: no MPI type of ", dtype_size(t), " bytes for ", t);
}

MPI_Op mpi_op(ReduceOp op) { return op == ReduceOp::max ? MPI_MAX : MPI_SUM; }

int to_mpi_count(int64_t n, const char* what, const char* op, const Communicator& c) {
  MOE_CHECK(n >= 0 && n <= INT_MAX, where(op, c), ": ", what, " = ", n,
            " elements exceeds MPI's int count limit (", INT_MAX, "); split the tensor into smaller pieces");
  return int(n);
}

void* send_buffer(const Tensor& t) {
  static char placeholder;
  return t.numel() == 0 ? &placeholder : t.raw_data();
}

void* recv_buffer(const Tensor& t) {
  static char placeholder;
  return t.numel() == 0 ? &placeholder : t.raw_data();
}

}  // namespace moe::comm
