#pragma once
// Communicator: collectives over the ranks of one group, on tensors. The
// parallel layers and the trainer talk only to this interface;
// MpiCommunicator implements it for CPU tensors, the NCCL communicator (CUDA
// issue) for device tensors.
//
// Rules every implementation keeps:
// - Inputs may be non-contiguous; outputs are new contiguous tensors (the
//   in-place ops write into the caller's tensor, which must be contiguous).
// - Every rank of the group calls the same collectives in the same order
//   with matching shapes/dtypes (counts may differ where stated).
// - Every blocking wait is watched: a rank that waits longer than
//   timeout_s() reports the operation, its sequence number, the group name
//   and its rank, learns from the ranks still answering which ranks never
//   reached that operation (comm/watchdog.h), names them, and aborts the
//   whole job (no rank hangs).
// - Every operation is numbered per group: collectives 1, 2, ... alike on
//   every rank of the group; send/recv by this rank's own count.
// - Reductions support f32, f64, i32, i64; the data-movement collectives
//   (gather, scatter, all-to-all, broadcast, send/recv) any dtype.
// - avg is the sum divided by size(); on i32/i64 that is C++ integer
//   division (truncated toward zero).
// - Work handles and tensors of an operation must not outlive the
//   communicator; dropping an unfinished Work waits for it.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace moe::comm {

enum class ReduceOp { sum, avg, max };

// Handle of an asynchronous collective. wait() blocks (watched) until the
// operation is complete; its result tensor is valid only after wait().
class Work {
 public:
  virtual ~Work() = default;
  virtual void wait() = 0;
  virtual bool done() = 0;  // non-blocking test
  // The output tensor of the operation (undefined for in-place ops).
  virtual Tensor result() { return Tensor(); }
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Group name used in error and watchdog messages ("world", "dp", "ep").
  virtual const std::string& name() const = 0;
  virtual double timeout_s() const = 0;
  virtual void set_timeout_s(double seconds) = 0;
  // Collectives this rank has started on the group (the latest one's
  // sequence number), and its sends and receives on it.
  virtual int64_t collectives_started() const = 0;
  virtual int64_t p2p_started() const = 0;
  // The world rank of group rank r (this process's own for a size-1 group).
  virtual int world_rank_of(int group_rank) const = 0;

  // In place on a contiguous tensor: t = op over ranks of t.
  virtual void all_reduce(Tensor& t, ReduceOp op) = 0;
  virtual std::unique_ptr<Work> all_reduce_async(Tensor& t, ReduceOp op) = 0;
  // Concatenation of every rank's x along `dim` (equal shapes on all ranks).
  virtual Tensor all_gather(const Tensor& x, int64_t dim = 0) = 0;
  // x is split along `dim` into size() equal chunks; rank r gets op over
  // ranks of chunk r. x.size(dim) must divide by size().
  virtual Tensor reduce_scatter(const Tensor& x, ReduceOp op, int64_t dim = 0) = 0;
  // Rows (slices along dim 0) of x: the first send_rows[0] go to rank 0, the
  // next send_rows[1] to rank 1, ...; the result holds recv_rows[p] rows
  // from each rank p, in rank order. Zero counts and x.size(0) == 0 allowed.
  virtual Tensor all_to_all_single(const Tensor& x, const std::vector<int64_t>& send_rows,
                                   const std::vector<int64_t>& recv_rows) = 0;
  virtual std::unique_ptr<Work> all_to_all_single_async(const Tensor& x, const std::vector<int64_t>& send_rows,
                                                        const std::vector<int64_t>& recv_rows) = 0;
  // Exchanges one int64 per peer: result[p] is what rank p put at index rank().
  virtual std::vector<int64_t> all_to_all_counts(const std::vector<int64_t>& send) = 0;
  // In place: every rank gets root's t (same shape and dtype everywhere).
  virtual void broadcast(Tensor& t, int root) = 0;
  virtual void barrier() = 0;
  virtual void send(const Tensor& t, int peer, int tag = 0) = 0;
  // Into a contiguous tensor of the sender's shape and dtype.
  virtual void recv(Tensor& t, int peer, int tag = 0) = 0;

  // Sub-group of the ranks that pass the same color, ordered by key (then
  // by rank). Collective over this group.
  virtual std::unique_ptr<Communicator> split(int color, int key, const std::string& name) = 0;
};

// Reduces a vector of doubles / int64 across the group (small statistics).
std::vector<double> all_reduce_values(Communicator& c, std::vector<double> v, ReduceOp op);
std::vector<int64_t> all_reduce_values(Communicator& c, std::vector<int64_t> v, ReduceOp op);

}  // namespace moe::comm
