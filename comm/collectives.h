#pragma once
// Differentiable collectives (named *_autograd, apart from the plain
// Communicator methods): autograd functions whose backward is the
// matching collective (the transpose of the forward's linear map).
#include <cstdint>
#include <memory>
#include <vector>

#include "comm/communicator.h"
#include "core/autograd.h"

namespace moe::comm {

// All-to-all of rows; backward: the reverse all-to-all with the counts
// swapped. overlap_backward: that reverse exchange is a split backward
// (Node::start), other ready gradient work running while it travels.
Tensor all_to_all_autograd(Communicator& c, const Tensor& x, const std::vector<int64_t>& send_rows,
                           const std::vector<int64_t>& recv_rows, bool overlap_backward = false);
// The backward of an all-to-all of send_rows / recv_rows, started: the
// reverse exchange of `grad` (kept alive until it completes) as a split
// backward's completion (Node::start).
FinishFn start_reverse_all_to_all(Communicator& c, const Tensor& grad, const std::vector<int64_t>& send_rows,
                                  const std::vector<int64_t>& recv_rows);
// The same exchange started now and finished by finish(), so the caller
// computes in between (the MoE layer's shared experts while its tokens
// travel). finish() returns what all_to_all_autograd would, bit for bit,
// and differentiable the same way (backward: the reverse exchange, split as
// with overlap_backward). x must not change before finish(); finish() is
// called once.
class PendingAllToAll {
 public:
  PendingAllToAll(Communicator& c, const Tensor& x, std::vector<int64_t> send_rows, std::vector<int64_t> recv_rows);
  Tensor finish();

 private:
  Communicator* c_;
  Tensor x_;
  std::vector<int64_t> send_, recv_;
  std::shared_ptr<Work> work_;
};

// Concatenation over the group along dim; backward: reduce-scatter (sum)
// along dim. (Sequence parallel -> tensor parallel region.)
Tensor all_gather_autograd(Communicator& c, const Tensor& x, int64_t dim);
// Sum over the group, scattered along dim; backward: all-gather along dim.
// (Tensor parallel partial sums -> sequence parallel region.)
Tensor reduce_scatter_autograd(Communicator& c, const Tensor& x, int64_t dim);
// Megatron's f: identity forward, all-reduce (sum) backward.
Tensor copy_to_group(Communicator& c, const Tensor& x);
// Megatron's g: all-reduce (sum) forward, identity backward.
Tensor reduce_from_group(Communicator& c, const Tensor& x);

}  // namespace moe::comm
