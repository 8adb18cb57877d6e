// The differentiable collectives as autograd Functions. Each holds its
// communicator by reference: the communicator must outlive every graph that
// uses it (backward calls it again). Every rank must run backward through
// the same collectives in the same order, as for the forward.
#include "comm/collectives.h"

#include <memory>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"

namespace moe::comm {

namespace {

Tensor summed(Communicator& c, const Tensor& x) {
  Tensor t = clone(x);  // contiguous and ours: all_reduce writes in place
  c.all_reduce(t, ReduceOp::sum);
  return t;
}

class AllToAll final : public Function {
 public:
  AllToAll(Communicator& c, std::vector<int64_t> send, std::vector<int64_t> recv, bool overlap)
      : c_(c), send_(std::move(send)), recv_(std::move(recv)), overlap_(overlap) {}
  std::string name() const override { return "all_to_all"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& in) override {
    return {c_.all_to_all_single(in[0], send_, recv_)};
  }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    return {c_.all_to_all_single(g[0], recv_, send_)};
  }
  FinishFn start_backward(const std::vector<Tensor>& g) override {
    return overlap_ ? start_reverse_all_to_all(c_, g[0], send_, recv_) : nullptr;
  }

 private:
  Communicator& c_;
  std::vector<int64_t> send_, recv_;
  bool overlap_;
};

// The second half of a PendingAllToAll: forward waits for the exchange
// already in flight.
class FinishAllToAll final : public Function {
 public:
  FinishAllToAll(Communicator& c, std::vector<int64_t> send, std::vector<int64_t> recv, std::shared_ptr<Work> work)
      : c_(c), send_(std::move(send)), recv_(std::move(recv)), work_(std::move(work)) {}
  std::string name() const override { return "all_to_all"; }
  std::vector<Tensor> forward(const std::vector<Tensor>&) override {
    work_->wait();
    Tensor out = work_->result();
    work_.reset();
    return {out};
  }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    return {c_.all_to_all_single(g[0], recv_, send_)};
  }
  FinishFn start_backward(const std::vector<Tensor>& g) override {
    return start_reverse_all_to_all(c_, g[0], send_, recv_);
  }

 private:
  Communicator& c_;
  std::vector<int64_t> send_, recv_;
  std::shared_ptr<Work> work_;
};

class AllGather final : public Function {
 public:
  AllGather(Communicator& c, int64_t dim) : c_(c), dim_(dim) {}
  std::string name() const override { return "all_gather"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& in) override { return {c_.all_gather(in[0], dim_)}; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    return {c_.reduce_scatter(g[0], ReduceOp::sum, dim_)};
  }

 private:
  Communicator& c_;
  int64_t dim_;
};

class ReduceScatter final : public Function {
 public:
  ReduceScatter(Communicator& c, int64_t dim) : c_(c), dim_(dim) {}
  std::string name() const override { return "reduce_scatter"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& in) override {
    return {c_.reduce_scatter(in[0], ReduceOp::sum, dim_)};
  }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override { return {c_.all_gather(g[0], dim_)}; }

 private:
  Communicator& c_;
  int64_t dim_;
};

class CopyToGroup final : public Function {
 public:
  explicit CopyToGroup(Communicator& c) : c_(c) {}
  std::string name() const override { return "copy_to_group"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& in) override { return {in[0].detach()}; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override { return {summed(c_, g[0])}; }

 private:
  Communicator& c_;
};

class ReduceFromGroup final : public Function {
 public:
  explicit ReduceFromGroup(Communicator& c) : c_(c) {}
  std::string name() const override { return "reduce_from_group"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& in) override { return {summed(c_, in[0])}; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override { return {g[0]}; }

 private:
  Communicator& c_;
};

Tensor apply1(std::shared_ptr<Function> fn, const Tensor& x) { return Function::apply(std::move(fn), {x})[0]; }

}  // namespace

FinishFn start_reverse_all_to_all(Communicator& c, const Tensor& grad, const std::vector<int64_t>& send_rows,
                                  const std::vector<int64_t>& recv_rows) {
  std::shared_ptr<Work> w = c.all_to_all_single_async(grad, recv_rows, send_rows);
  return [w, grad] {
    w->wait();
    return std::vector<Tensor>{w->result()};
  };
}

Tensor all_to_all_autograd(Communicator& c, const Tensor& x, const std::vector<int64_t>& send_rows,
                           const std::vector<int64_t>& recv_rows, bool overlap_backward) {
  return apply1(std::make_shared<AllToAll>(c, send_rows, recv_rows, overlap_backward), x);
}

PendingAllToAll::PendingAllToAll(Communicator& c, const Tensor& x, std::vector<int64_t> send_rows,
                                 std::vector<int64_t> recv_rows)
    : c_(&c), x_(x), send_(std::move(send_rows)), recv_(std::move(recv_rows)),
      work_(c.all_to_all_single_async(x, send_, recv_)) {}

Tensor PendingAllToAll::finish() {
  MOE_CHECK(work_ != nullptr, "PendingAllToAll::finish called twice");
  auto fn = std::make_shared<FinishAllToAll>(*c_, send_, recv_, std::move(work_));
  work_.reset();
  return apply1(std::move(fn), x_);
}

Tensor all_gather_autograd(Communicator& c, const Tensor& x, int64_t dim) {
  return apply1(std::make_shared<AllGather>(c, dim), x);
}

Tensor reduce_scatter_autograd(Communicator& c, const Tensor& x, int64_t dim) {
  return apply1(std::make_shared<ReduceScatter>(c, dim), x);
}

Tensor copy_to_group(Communicator& c, const Tensor& x) { return apply1(std::make_shared<CopyToGroup>(c), x); }

Tensor reduce_from_group(Communicator& c, const Tensor& x) {
  return apply1(std::make_shared<ReduceFromGroup>(c), x);
}

}  // namespace moe::comm
