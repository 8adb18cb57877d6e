#pragma once
// MPI plumbing for MpiCommunicator: error codes to moe::Error, dtypes to
// MPI datatypes, 64-bit counts to MPI's int counts.
#include <mpi.h>

#include <cstdint>

#include "comm/communicator.h"

namespace moe::comm {

// Throws moe::Error "<op> on group 'g' (rank r of n): MPI error: <text>"
// unless rc is MPI_SUCCESS.
void check_mpi(int rc, const char* op, const Communicator& c);
// Element type for reductions (f32, f64, i32, i64; checked by the caller).
MPI_Datatype mpi_reduce_type(DType t);
// Same-width unsigned type for data movement of any dtype: counts stay in
// elements and the bits travel unchanged (bf16, f8, bool, ...).
MPI_Datatype mpi_move_type(DType t);
MPI_Op mpi_op(ReduceOp op);
// n as an MPI count; a clear error when it exceeds INT_MAX (split the
// tensor, or this op would need MPI-4 large counts).
int to_mpi_count(int64_t n, const char* what, const char* op, const Communicator& c);
// Valid pointers for MPI, also for empty tensors (which may have no storage,
// or share one zero-size allocation).
// Send and receive placeholders differ: Open MPI's nonblocking collectives
// take sendbuf == recvbuf as "in place" and then run another algorithm than
// the peers, which hangs the next collective.
void* send_buffer(const Tensor& t);
void* recv_buffer(const Tensor& t);

}  // namespace moe::comm
