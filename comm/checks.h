#pragma once
// Argument checks shared by every Communicator implementation, so the MPI
// and size-1 groups reject the same calls with the same messages. Messages
// start with where(): "all_gather on group 'tp' (rank 1 of 4)".
#include <cstdint>
#include <string>
#include <vector>

#include "comm/communicator.h"

namespace moe::comm {

const char* reduce_op_name(ReduceOp op);
std::string where(const char* op, const Communicator& c);

// Defined, and contiguous because the op writes into it.
void check_in_place(const Tensor& t, const char* op, const Communicator& c);
void check_defined(const Tensor& t, const char* op, const Communicator& c);
void check_cpu(const Tensor& t, const char* op, const Communicator& c);
// f32, f64, i32 or i64.
void check_reducible(DType t, const char* op, const Communicator& c);
// Wraps a possibly negative dim of x; x must have at least one dim.
int64_t check_dim(const Tensor& x, int64_t dim, const char* op, const Communicator& c);
// x.size(dim) divides into c.size() chunks.
void check_divisible(const Tensor& x, int64_t dim, const Communicator& c);
// One count per rank, none negative, send_rows summing to x.size(0).
void check_all_to_all(const Tensor& x, const std::vector<int64_t>& send_rows,
                      const std::vector<int64_t>& recv_rows, const char* op, const Communicator& c);
void check_peer(int peer, const char* op, const Communicator& c);

}  // namespace moe::comm
