// The size-1 group: every collective is a copy (or nothing, in place), with
// the same argument checks and numbering as the MPI groups so single-process
// runs reject what a multi-rank run would.
#include <mpi.h>

#include <deque>
#include <map>

#include "comm/checks.h"
#include "comm/hang_exchange.h"
#include "comm/mpi_communicator.h"
#include "core/error.h"
#include "core/ops.h"

namespace moe::comm {

namespace {

class DoneWork final : public Work {
 public:
  explicit DoneWork(Tensor result = Tensor()) : result_(std::move(result)) {}
  void wait() override {}
  bool done() override { return true; }
  Tensor result() override { return result_; }

 private:
  Tensor result_;
};

class SelfCommunicator final : public Communicator {
 public:
  explicit SelfCommunicator(std::string name) : name_(std::move(name)) {
    if (mpi_active()) MPI_Comm_rank(MPI_COMM_WORLD, &world_rank_);
    track_group(*this);
  }
  ~SelfCommunicator() override { untrack_group(*this); }
  SelfCommunicator(const SelfCommunicator&) = delete;
  SelfCommunicator& operator=(const SelfCommunicator&) = delete;

  int rank() const override { return 0; }
  int size() const override { return 1; }
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
    return world_rank_;
  }

  void all_reduce(Tensor& t, ReduceOp) override {
    check_in_place(t, "all_reduce", *this);
    check_reducible(t.dtype(), "all_reduce", *this);
    ++collectives_;
    t.bump_version();  // same contract as a real group: the op writes t
  }
  std::unique_ptr<Work> all_reduce_async(Tensor& t, ReduceOp op) override {
    all_reduce(t, op);
    return std::make_unique<DoneWork>();
  }
  Tensor all_gather(const Tensor& x, int64_t dim) override {
    check_dim(x, dim, "all_gather", *this);
    ++collectives_;
    return clone(x.detach());
  }
  Tensor reduce_scatter(const Tensor& x, ReduceOp, int64_t dim) override {
    check_dim(x, dim, "reduce_scatter", *this);
    check_reducible(x.dtype(), "reduce_scatter", *this);
    ++collectives_;
    return clone(x.detach());
  }
  Tensor all_to_all_single(const Tensor& x, const std::vector<int64_t>& send_rows,
                           const std::vector<int64_t>& recv_rows) override {
    check_all_to_all(x, send_rows, recv_rows, "all_to_all_single", *this);
    MOE_CHECK(recv_rows[0] == send_rows[0], where("all_to_all_single", *this), ": recv_rows[0] = ", recv_rows[0],
              " but this rank sends itself ", send_rows[0], " rows");
    ++collectives_;
    return clone(x.detach());
  }
  std::unique_ptr<Work> all_to_all_single_async(const Tensor& x, const std::vector<int64_t>& send_rows,
                                                const std::vector<int64_t>& recv_rows) override {
    return std::make_unique<DoneWork>(all_to_all_single(x, send_rows, recv_rows));
  }
  std::vector<int64_t> all_to_all_counts(const std::vector<int64_t>& send) override {
    MOE_CHECK(send.size() == 1, where("all_to_all_counts", *this), ": ", send.size(),
              " counts given, expected one per rank (1)");
    ++collectives_;
    return send;
  }
  void broadcast(Tensor& t, int root) override {
    check_in_place(t, "broadcast", *this);
    check_peer(root, "broadcast", *this);
    ++collectives_;
    t.bump_version();
  }
  void barrier() override { ++collectives_; }
  // Messages to itself queue per tag, so send-then-recv works on one rank.
  void send(const Tensor& t, int peer, int tag) override {
    check_defined(t, "send", *this);
    check_peer(peer, "send", *this);
    ++p2p_;
    mailbox_[tag].push_back(clone(t.detach()));
  }
  void recv(Tensor& t, int peer, int tag) override {
    check_in_place(t, "recv", *this);
    check_peer(peer, "recv", *this);
    ++p2p_;
    auto it = mailbox_.find(tag);
    MOE_CHECK(it != mailbox_.end() && !it->second.empty(), where("recv", *this), ": nothing was sent with tag ",
              tag, "; on a single rank this recv would wait forever");
    Tensor msg = it->second.front();
    it->second.pop_front();
    MOE_CHECK(msg.shape() == t.shape() && msg.dtype() == t.dtype(), where("recv", *this), ": expected ", t.str(),
              ", the message is ", msg.str());
    copy_(t, msg);
  }
  std::unique_ptr<Communicator> split(int color, int, const std::string& name) override {
    MOE_CHECK(color >= 0, where("split", *this), ": color ", color, " for group '", name,
              "' must be non-negative");
    ++collectives_;  // an MPI group's split is a (watched) barrier
    auto sub = std::make_unique<SelfCommunicator>(name);
    sub->timeout_s_ = timeout_s_;
    return sub;
  }

 private:
  std::string name_;
  double timeout_s_ = default_timeout_s();
  int world_rank_ = 0;
  int64_t collectives_ = 0, p2p_ = 0;
  std::map<int, std::deque<Tensor>> mailbox_;
};

}  // namespace

std::unique_ptr<Communicator> self_communicator(const std::string& name) {
  return std::make_unique<SelfCommunicator>(name);
}

}  // namespace moe::comm
