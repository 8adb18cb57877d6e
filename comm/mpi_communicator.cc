// MpiCommunicator: every operation is the nonblocking MPI call wrapped in an
// MpiWork; the blocking variants wait on it under the watchdog.
#include <mpi.h>

#include <numeric>

#include "comm/checks.h"
#include "comm/hang_exchange.h"
#include "comm/layout.h"
#include "comm/mpi_communicator.h"
#include "comm/mpi_util.h"
#include "comm/mpi_work.h"
#include "comm/watchdog.h"
#include "core/error.h"
#include "core/ops.h"

namespace moe::comm {

namespace {

// Counts and displacements of an Ialltoallv: MPI reads them until the
// operation completes, so the Work keeps them.
struct AllToAllLayout {
  std::vector<int> send_counts, send_displs, recv_counts, recv_displs;
};

void fill_counts(const std::vector<int64_t>& rows, int64_t row_numel, std::vector<int>& counts,
                 std::vector<int>& displs, const char* which, const char* op, const Communicator& c) {
  int64_t offset = 0;
  for (int64_t r : rows) {
    counts.push_back(to_mpi_count(r * row_numel, which, op, c));
    displs.push_back(to_mpi_count(offset, which, op, c));
    offset += r * row_numel;
  }
  to_mpi_count(offset, which, op, c);
}

Tensor prepared(const Tensor& x, const char* op, const Communicator& c) {
  check_defined(x, op, c);
  check_cpu(x, op, c);
  return contiguous(x.detach());
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(MPI_Comm comm, bool owned, std::string name, double timeout_s)
      : comm_(comm), owned_(owned), name_(std::move(name)), timeout_s_(timeout_s) {
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    // World ranks name the members in hang reports.
    world_ranks_.resize(size_t(size_));
    std::vector<int> own(world_ranks_.size());
    std::iota(own.begin(), own.end(), 0);
    MPI_Group group, world;
    MPI_Comm_group(comm_, &group);
    MPI_Comm_group(MPI_COMM_WORLD, &world);
    MPI_Group_translate_ranks(group, size_, own.data(), world, world_ranks_.data());
    MPI_Group_free(&group);
    MPI_Group_free(&world);
    track_group(*this);
  }
  ~MpiCommunicator() override {
    untrack_group(*this);
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owned_ && !finalized) MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const std::string& name() const override { return name_; }
  double timeout_s() const override { return timeout_s_; }
  void set_timeout_s(double seconds) override {
    MOE_CHECK(seconds > 0, "set_timeout_s on group '", name_, "': ", seconds, " is not a positive timeout");
    timeout_s_ = seconds;
  }
  int64_t collectives_started() const override { return collectives_; }
  int64_t p2p_started() const override { return p2p_; }
  int world_rank_of(int group_rank) const override {
    check_peer(group_rank, "world_rank_of", *this);
    return world_ranks_[size_t(group_rank)];
  }

  void all_reduce(Tensor& t, ReduceOp op) override { all_reduce_async(t, op)->wait(); }

  std::unique_ptr<Work> all_reduce_async(Tensor& t, ReduceOp op) override {
    constexpr const char* kOp = "all_reduce";
    check_in_place(t, kOp, *this);
    check_cpu(t, kOp, *this);
    check_reducible(t.dtype(), kOp, *this);
    MPI_Request req;
    check_mpi(MPI_Iallreduce(MPI_IN_PLACE, recv_buffer(t), to_mpi_count(t.numel(), "numel", kOp, *this),
                             mpi_reduce_type(t.dtype()), mpi_op(op), comm_, &req),
              kOp, *this);
    Tensor target = t;
    const int n = size_;
    return start(kOp, req, nullptr, [target, op, n]() mutable {
      if (op == ReduceOp::avg) divide_in_place(target, n);
      target.bump_version();
      return Tensor();
    });
  }

  Tensor all_gather(const Tensor& x, int64_t dim) override {
    constexpr const char* kOp = "all_gather";
    const int64_t d = check_dim(x, dim, kOp, *this);
    check_cpu(x, kOp, *this);
    Tensor src = dim_to_front(x.detach(), d);
    Shape shape = src.shape();
    shape[0] *= size_;
    Tensor out = empty(shape, x.dtype());
    const int count = to_mpi_count(src.numel(), "numel", kOp, *this);
    to_mpi_count(out.numel(), "gathered numel", kOp, *this);
    const MPI_Datatype type = mpi_move_type(x.dtype());
    MPI_Request req;
    check_mpi(MPI_Iallgather(send_buffer(src), count, type, recv_buffer(out), count, type, comm_, &req), kOp,
              *this);
    return run(start(kOp, req, src.impl_ptr(), [out, d] { return front_to_dim(out, d); }));
  }

  Tensor reduce_scatter(const Tensor& x, ReduceOp op, int64_t dim) override {
    constexpr const char* kOp = "reduce_scatter";
    const int64_t d = check_dim(x, dim, kOp, *this);
    check_cpu(x, kOp, *this);
    check_reducible(x.dtype(), kOp, *this);
    check_divisible(x, d, *this);
    Tensor src = dim_to_front(x.detach(), d);
    to_mpi_count(src.numel(), "numel", kOp, *this);
    Shape shape = src.shape();
    shape[0] /= size_;
    Tensor out = empty(shape, x.dtype());
    MPI_Request req;
    check_mpi(MPI_Ireduce_scatter_block(send_buffer(src), recv_buffer(out), int(out.numel()),
                                        mpi_reduce_type(x.dtype()), mpi_op(op), comm_, &req),
              kOp, *this);
    const int n = size_;
    return run(start(kOp, req, src.impl_ptr(), [out, op, d, n]() mutable {
      if (op == ReduceOp::avg) divide_in_place(out, n);
      return front_to_dim(out, d);
    }));
  }

  Tensor all_to_all_single(const Tensor& x, const std::vector<int64_t>& send_rows,
                           const std::vector<int64_t>& recv_rows) override {
    return run(all_to_all_single_async(x, send_rows, recv_rows));
  }

  std::unique_ptr<Work> all_to_all_single_async(const Tensor& x, const std::vector<int64_t>& send_rows,
                                                const std::vector<int64_t>& recv_rows) override {
    constexpr const char* kOp = "all_to_all_single";
    check_all_to_all(x, send_rows, recv_rows, kOp, *this);
    check_cpu(x, kOp, *this);
    Tensor src = contiguous(x.detach());
    const int64_t per_row = row_numel(x);
    Shape shape = x.shape();
    shape[0] = std::accumulate(recv_rows.begin(), recv_rows.end(), int64_t(0));
    Tensor out = empty(shape, x.dtype());
    auto layout = std::make_shared<AllToAllLayout>();
    fill_counts(send_rows, per_row, layout->send_counts, layout->send_displs, "send elements", kOp, *this);
    fill_counts(recv_rows, per_row, layout->recv_counts, layout->recv_displs, "recv elements", kOp, *this);
    const MPI_Datatype type = mpi_move_type(x.dtype());
    MPI_Request req;
    check_mpi(MPI_Ialltoallv(send_buffer(src), layout->send_counts.data(), layout->send_displs.data(), type,
                             recv_buffer(out), layout->recv_counts.data(), layout->recv_displs.data(), type,
                             comm_, &req),
              kOp, *this);
    auto keep = std::make_shared<std::pair<Tensor, std::shared_ptr<AllToAllLayout>>>(src, layout);
    return start(kOp, req, keep, [out] { return out; });
  }

  std::vector<int64_t> all_to_all_counts(const std::vector<int64_t>& send) override {
    constexpr const char* kOp = "all_to_all_counts";
    MOE_CHECK(int64_t(send.size()) == size_, where(kOp, *this), ": ", send.size(),
              " counts given, expected one per rank (", size_, ")");
    auto recv = std::make_shared<std::vector<int64_t>>(send.size());
    MPI_Request req;
    check_mpi(MPI_Ialltoall(send.data(), 1, MPI_INT64_T, recv->data(), 1, MPI_INT64_T, comm_, &req), kOp,
              *this);
    start(kOp, req, recv, nullptr)->wait();  // send is the caller's and outlives the wait
    return *recv;
  }

  void broadcast(Tensor& t, int root) override {
    constexpr const char* kOp = "broadcast";
    check_in_place(t, kOp, *this);
    check_cpu(t, kOp, *this);
    check_peer(root, kOp, *this);
    MPI_Request req;
    check_mpi(MPI_Ibcast(recv_buffer(t), to_mpi_count(t.numel(), "numel", kOp, *this), mpi_move_type(t.dtype()),
                         root, comm_, &req),
              kOp, *this);
    Tensor target = t;
    start(kOp, req, nullptr, [target] {
      target.bump_version();
      return Tensor();
    })->wait();
  }

  void barrier() override { barrier_for("barrier"); }

  void send(const Tensor& t, int peer, int tag) override {
    constexpr const char* kOp = "send";
    check_point_to_point(peer, tag, kOp);
    Tensor src = prepared(t, kOp, *this);
    MPI_Request req;
    check_mpi(MPI_Isend(send_buffer(src), to_mpi_count(src.numel(), "numel", kOp, *this),
                        mpi_move_type(src.dtype()), peer, tag, comm_, &req),
              kOp, *this);
    start_p2p(kOp, peer, tag, req, src.impl_ptr(), nullptr)->wait();
  }

  void recv(Tensor& t, int peer, int tag) override {
    constexpr const char* kOp = "recv";
    check_point_to_point(peer, tag, kOp);
    check_in_place(t, kOp, *this);
    check_cpu(t, kOp, *this);
    const MPI_Datatype type = mpi_move_type(t.dtype());
    MPI_Request req;
    check_mpi(MPI_Irecv(recv_buffer(t), to_mpi_count(t.numel(), "numel", kOp, *this), type, peer, tag, comm_, &req),
              kOp, *this);
    Tensor target = t;
    auto work = start_p2p(kOp, peer, tag, req, nullptr, [target] {
      target.bump_version();
      return Tensor();
    });
    try {
      work->wait();
    } catch (...) {
      work->cancel_receive();
      throw;
    }
    int got = 0;
    MPI_Status status = work->status();
    MPI_Get_count(&status, type, &got);
    MOE_CHECK(got == t.numel(), where(kOp, *this), ": expected ", t.str(), " (", t.numel(),
              " elements) from rank ", peer, " with tag ", tag, ", got ", got, " elements");
  }

  std::unique_ptr<Communicator> split(int color, int key, const std::string& name) override {
    MOE_CHECK(color >= 0, where("split", *this), ": color ", color, " for group '", name,
              "' must be non-negative");
    // MPI_Comm_split blocks unwatched; a watched barrier first turns a
    // missing rank into a timeout report instead of a hang.
    barrier_for("split");
    MPI_Comm sub = MPI_COMM_NULL;
    check_mpi(MPI_Comm_split(comm_, color, key, &sub), "split", *this);
    return std::make_unique<MpiCommunicator>(sub, true, name, timeout_s_);
  }

 private:
  void barrier_for(const char* op) {
    MPI_Request req;
    check_mpi(MPI_Ibarrier(comm_, &req), op, *this);
    start(op, req, nullptr, nullptr)->wait();
  }
  // Collectives are numbered alike on every rank of the group: each rank
  // starts them in the same order.
  std::unique_ptr<MpiWork> start(const char* op, MPI_Request req, std::shared_ptr<void> keep,
                                 std::function<Tensor()> finish) {
    return std::make_unique<MpiWork>(*this, WaitSite{op, ++collectives_}, req, std::move(keep), std::move(finish));
  }
  std::unique_ptr<MpiWork> start_p2p(const char* op, int peer, int tag, MPI_Request req, std::shared_ptr<void> keep,
                                     std::function<Tensor()> finish) {
    return std::make_unique<MpiWork>(*this, WaitSite{op, ++p2p_, peer, tag}, req, std::move(keep),
                                     std::move(finish));
  }
  static Tensor run(std::unique_ptr<Work> w) {
    w->wait();
    return w->result();
  }
  void check_point_to_point(int peer, int tag, const char* op) const {
    check_peer(peer, op, *this);
    MOE_CHECK(peer != rank_, where(op, *this), ": peer ", peer, " is this rank itself");
    MOE_CHECK(tag >= 0, where(op, *this), ": tag ", tag, " is negative");
  }

  MPI_Comm comm_;
  bool owned_;
  std::string name_;
  int rank_ = 0;
  int size_ = 1;
  double timeout_s_;
  int64_t collectives_ = 0, p2p_ = 0;
  std::vector<int> world_ranks_;  // of each group rank
};

}  // namespace

std::unique_ptr<Communicator> world_communicator(double timeout_s) {
  const double timeout = timeout_s > 0 ? timeout_s : default_timeout_s();
  if (!mpi_init(nullptr, nullptr)) {
    auto self = self_communicator("world");
    self->set_timeout_s(timeout);
    return self;
  }
  return std::make_unique<MpiCommunicator>(MPI_COMM_WORLD, false, "world", timeout);
}

}  // namespace moe::comm
