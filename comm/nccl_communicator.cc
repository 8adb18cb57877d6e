#include "comm/nccl_communicator.h"

#include "core/error.h"

#if !defined(MOE_WITH_CUDA)

namespace moe::comm {
bool nccl_available() { return false; }
std::unique_ptr<Communicator> nccl_communicator(std::unique_ptr<Communicator>, int) {
  throw Error("nccl_communicator: this build has no CUDA backend (configure with -DMOE_CUDA=ON or SIM)");
}
}  // namespace moe::comm

#else

#include <nccl.h>
#if !defined(MOE_CUDA_SIM)
#include <dlfcn.h>
#endif

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "comm/checks.h"
#include "comm/mpi_communicator.h"
#include "comm/watchdog.h"
#include "core/cuda/context.h"
#include "core/cuda/device_memory.h"
#include "core/ops.h"

namespace moe::comm {

namespace {

ncclDataType_t reduce_type(DType t) {
  switch (t) {
    case DType::f32: return ncclFloat32;
    case DType::f64: return ncclFloat64;
    case DType::i32: return ncclInt32;
    default: return ncclInt64;
  }
}

ncclRedOp_t nccl_op(ReduceOp op, DType t) {
  switch (op) {
    case ReduceOp::max: return ncclMax;
    case ReduceOp::avg: return is_floating(t) ? ncclAvg : ncclSum;  // integers: sum, then truncating division
    default: return ncclSum;
  }
}

size_t bytes_of(const Tensor& t) { return size_t(t.numel()) * dtype_size(t.dtype()); }

// A new NCCL communicator of the ranks of `host`: rank 0's unique id reaches
// every rank through the host group.
ncclComm_t init_over(Communicator& host, int device) {
  ncclUniqueId id;
  std::memset(&id, 0, sizeof id);
  if (host.rank() == 0) {
    const ncclResult_t r = ncclGetUniqueId(&id);
    MOE_CHECK(r == ncclSuccess, "nccl_communicator: ncclGetUniqueId failed: ", ncclGetErrorString(r));
  }
  Tensor bytes = empty({int64_t(sizeof id)}, DType::b8);
  std::memcpy(bytes.raw_data(), &id, sizeof id);
  host.broadcast(bytes, 0);
  std::memcpy(&id, bytes.raw_data(), sizeof id);
  ncclComm_t comm = nullptr;
  const ncclResult_t r = ncclCommInitRank(&comm, host.size(), id, host.rank());
  MOE_CHECK(r == ncclSuccess, where("nccl init", host), ": ncclCommInitRank (", host.size(), " ranks, device ",
            device, ") failed: ", ncclGetErrorString(r));
  return comm;
}

// ncclCommSplit (NCCL >= 2.18), looked up at run time: a GPU machine's NCCL
// (PyTorch's) may be older than the one built against. Null when absent.
using SplitFn = ncclResult_t (*)(ncclComm_t, int, int, ncclComm_t*, ncclConfig_t*);
SplitFn comm_split() {
#if defined(MOE_CUDA_SIM)
  return &ncclCommSplit;  // the shim builds sub-groups only this way
#else
  static const SplitFn fn = reinterpret_cast<SplitFn>(dlsym(RTLD_DEFAULT, "ncclCommSplit"));
  return fn;
#endif
}

// t /= n in t's dtype (integers: truncated, as the MPI group's avg).
void divide_(Tensor& t, int n) { copy_(t, div(t, full({}, double(n), t.dtype(), t.device()))); }

class NcclCommunicator;

// A device operation: done once `done` (recorded on the communication
// stream after it) has fired; `finish` then makes the result.
class NcclWork final : public Work {
 public:
  NcclWork(NcclCommunicator& c, WaitSite site, cudaEvent_t done, std::function<Tensor()> finish)
      : c_(c), site_(site), done_(done), finish_(std::move(finish)) {}
  ~NcclWork() override;
  void wait() override;
  bool done() override;
  Tensor result() override { return result_; }

 private:
  NcclCommunicator& c_;
  WaitSite site_;
  cudaEvent_t done_;
  std::function<Tensor()> finish_;
  Tensor result_;
  bool finished_ = false;
};

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(std::unique_ptr<Communicator> host, ncclComm_t comm, int device)
      : host_(std::move(host)), comm_(comm), device_(device) {}
  ~NcclCommunicator() override {
    cuda::DeviceGuard on(device_);
    (void)cudaStreamSynchronize(cuda::device_context(device_).comm);
    ncclCommDestroy(comm_);
  }

  int rank() const override { return host_->rank(); }
  int size() const override { return host_->size(); }
  const std::string& name() const override { return host_->name(); }
  double timeout_s() const override { return host_->timeout_s(); }
  void set_timeout_s(double s) override { host_->set_timeout_s(s); }
  int64_t collectives_started() const override { return collectives_ + host_->collectives_started(); }
  int64_t p2p_started() const override { return p2p_ + host_->p2p_started(); }
  int world_rank_of(int r) const override { return host_->world_rank_of(r); }

  void all_reduce(Tensor& t, ReduceOp op) override { all_reduce_async(t, op)->wait(); }
  std::unique_ptr<Work> all_reduce_async(Tensor& t, ReduceOp op) override {
    const char* name = "all_reduce";
    check_in_place(t, name, *this);
    if (t.device().is_cpu()) return host_->all_reduce_async(t, op);
    check_reducible(t.dtype(), name, *this);
    Tensor buf = t;
    const int n = size();
    return launch(name, {buf}, [&](cudaStream_t s) {
      return ncclAllReduce(buf.raw_data(), buf.raw_data(), size_t(buf.numel()), reduce_type(buf.dtype()),
                           nccl_op(op, buf.dtype()), comm_, s);
    }, [buf, op, n]() mutable {
      if (op == ReduceOp::avg && !is_floating(buf.dtype())) divide_(buf, n);
      return Tensor();
    });
  }

  Tensor all_gather(const Tensor& x, int64_t dim) override {
    const char* name = "all_gather";
    check_defined(x, name, *this);
    if (x.device().is_cpu()) return host_->all_gather(x, dim);
    const int64_t d = check_dim(x, dim, name, *this);
    const Tensor in = contiguous(x.detach());
    Shape gs = in.shape();
    gs[0] *= size();
    const Tensor g = empty(gs, in.dtype(), in.device());
    const int n = size();
    auto w = launch(name, {in, g}, [&](cudaStream_t s) {
      return ncclAllGather(in.raw_data(), g.raw_data(), bytes_of(in), ncclUint8, comm_, s);
    }, [g, d, n, rows = in.size(0)] {
      if (d == 0) return g;
      std::vector<Tensor> parts;
      for (int r = 0; r < n; ++r) parts.push_back(narrow(g, 0, r * rows, rows));
      return cat(parts, d);
    });
    w->wait();
    return w->result();
  }

  Tensor reduce_scatter(const Tensor& x, ReduceOp op, int64_t dim) override {
    const char* name = "reduce_scatter";
    check_defined(x, name, *this);
    if (x.device().is_cpu()) return host_->reduce_scatter(x, op, dim);
    check_reducible(x.dtype(), name, *this);
    const int64_t d = check_dim(x, dim, name, *this);
    check_divisible(x, d, *this);
    const int n = size();
    const int64_t c = x.size(d) / n;
    // Chunk r of dim d becomes the r-th contiguous block.
    Tensor in;
    if (d == 0) {
      in = contiguous(x.detach());
    } else {
      std::vector<Tensor> parts;
      for (int r = 0; r < n; ++r) parts.push_back(contiguous(narrow(x.detach(), d, r * c, c)));
      in = cat(parts, 0);
    }
    Shape rs = x.shape();
    rs[size_t(d)] = c;
    Tensor out = empty(rs, x.dtype(), x.device());
    auto w = launch(name, {in, out}, [&](cudaStream_t s) {
      return ncclReduceScatter(in.raw_data(), out.raw_data(), size_t(out.numel()), reduce_type(x.dtype()),
                               nccl_op(op, x.dtype()), comm_, s);
    }, [out, op, n]() mutable {
      if (op == ReduceOp::avg && !is_floating(out.dtype())) divide_(out, n);
      return out;
    });
    w->wait();
    return w->result();
  }

  Tensor all_to_all_single(const Tensor& x, const std::vector<int64_t>& send_rows,
                           const std::vector<int64_t>& recv_rows) override {
    auto w = all_to_all_single_async(x, send_rows, recv_rows);
    w->wait();
    return w->result();
  }
  std::unique_ptr<Work> all_to_all_single_async(const Tensor& x, const std::vector<int64_t>& send_rows,
                                                const std::vector<int64_t>& recv_rows) override {
    const char* name = "all_to_all_single";
    check_defined(x, name, *this);
    if (x.device().is_cpu()) return host_->all_to_all_single_async(x, send_rows, recv_rows);
    check_all_to_all(x, send_rows, recv_rows, name, *this);
    const Tensor in = contiguous(x.detach());
    Shape os = in.shape();
    int64_t total = 0;
    for (int64_t r : recv_rows) total += r;
    os[0] = total;
    const Tensor out = empty(os, in.dtype(), in.device());
    const size_t row = in.dim() > 0 && in.size(0) > 0 ? bytes_of(in) / size_t(in.size(0))
                                                      : size_t(shape_numel(Shape(os.begin() + 1, os.end()))) *
                                                            dtype_size(in.dtype());
    return launch(name, {in, out}, [&](cudaStream_t s) {
      ncclResult_t r = ncclGroupStart();
      size_t so = 0, ro = 0;
      for (int p = 0; p < size() && r == ncclSuccess; ++p) {
        const size_t sb = size_t(send_rows[size_t(p)]) * row, rb = size_t(recv_rows[size_t(p)]) * row;
        if (sb > 0) r = ncclSend(static_cast<const char*>(in.raw_data()) + so, sb, ncclUint8, p, comm_, s);
        if (r == ncclSuccess && rb > 0)
          r = ncclRecv(static_cast<char*>(out.raw_data()) + ro, rb, ncclUint8, p, comm_, s);
        so += sb, ro += rb;
      }
      const ncclResult_t e = ncclGroupEnd();
      return r != ncclSuccess ? r : e;
    }, [out] { return out; });
  }

  std::vector<int64_t> all_to_all_counts(const std::vector<int64_t>& send) override {
    return host_->all_to_all_counts(send);
  }

  void broadcast(Tensor& t, int root) override {
    const char* name = "broadcast";
    check_in_place(t, name, *this);
    if (t.device().is_cpu()) return host_->broadcast(t, root);
    check_peer(root, name, *this);
    Tensor buf = t;
    launch(name, {buf}, [&](cudaStream_t s) {
      return ncclBroadcast(buf.raw_data(), buf.raw_data(), bytes_of(buf), ncclUint8, root, comm_, s);
    }, [] { return Tensor(); })->wait();
  }

  void barrier() override { host_->barrier(); }

  void send(const Tensor& t, int peer, int tag) override {
    const char* name = "send";
    check_defined(t, name, *this);
    if (t.device().is_cpu()) return host_->send(t, peer, tag);
    check_peer(peer, name, *this);
    const Tensor in = contiguous(t.detach());
    ++p2p_;
    p2p(name, in, peer,
        [&](cudaStream_t s) { return ncclSend(in.raw_data(), bytes_of(in), ncclUint8, peer, comm_, s); });
  }
  void recv(Tensor& t, int peer, int tag) override {
    const char* name = "recv";
    check_in_place(t, name, *this);
    if (t.device().is_cpu()) return host_->recv(t, peer, tag);
    check_peer(peer, name, *this);
    ++p2p_;
    Tensor buf = t;
    p2p(name, buf, peer,
        [&](cudaStream_t s) { return ncclRecv(buf.raw_data(), bytes_of(buf), ncclUint8, peer, comm_, s); });
  }

  std::unique_ptr<Communicator> split(int color, int key, const std::string& name) override {
    std::unique_ptr<Communicator> sub = host_->split(color, key, name);
    cuda::DeviceGuard on(device_);
    // NCCL's split is a host-blocking collective over this group: nothing of
    // ours may still be queued on it.
    MOE_CUDA_CHECK(cudaStreamSynchronize(cuda::device_context(device_).comm));
    ncclComm_t out = nullptr;
    if (const SplitFn split_fn = comm_split()) {
      check_result(split_fn(comm_, color, key, &out, nullptr), "split");
      MOE_CHECK(out != nullptr, where("split", *this), ": ncclCommSplit gave no communicator for color ", color);
    } else {
      out = init_over(*sub, device_);  // an older NCCL: a fresh communicator per sub-group
    }
    return std::make_unique<NcclCommunicator>(std::move(sub), out, device_);
  }

  // The asynchronous error of the group, if any, ends the job.
  void check_async(const WaitSite& site) {
    ncclResult_t async = ncclSuccess;
    if (ncclCommGetAsyncError(comm_, &async) != ncclSuccess || async == ncclSuccess) return;
    ncclCommAbort(comm_);
    abort_job(where(site.op, *this) + ", operation " + std::to_string(site.seq) + ": NCCL error: " +
              ncclGetErrorString(async) + "; aborting the job");
  }
  int device() const { return device_; }

 private:
  void check_result(ncclResult_t r, const char* op) {
    MOE_CHECK(r == ncclSuccess, where(op, *this), ": NCCL error: ", ncclGetErrorString(r));
  }

  // Marks the block under t as used by the communication stream.
  void keep_on(const Tensor& t, cudaStream_t s) {
    if (t.numel() == 0 || !t.storage() || !t.storage()->data()) return;
    cuda_caching_allocator(device_)->record_stream(t.storage()->data(), s);
  }

  // Queues `enqueue` (NCCL calls) on the communication stream after the
  // compute stream's work so far; the Work's wait makes the compute stream
  // wait for its end.
  template <typename Enqueue>
  std::unique_ptr<NcclWork> launch(const char* op, const std::vector<Tensor>& used, Enqueue&& enqueue,
                                   std::function<Tensor()> finish) {
    cuda::DeviceGuard on(device_);
    cuda::DeviceContext& ctx = cuda::device_context(device_);
    const cudaStream_t compute = cuda::current_stream(device_);
    cuda::stream_wait(device_, ctx.comm, compute);
    const WaitSite site{op, ++collectives_};
    check_result(enqueue(ctx.comm), op);
    for (const Tensor& t : used) keep_on(t, ctx.comm);
    cudaEvent_t done = ctx.events.acquire();
    MOE_CUDA_CHECK(cudaEventRecord(done, ctx.comm));
    return std::make_unique<NcclWork>(*this, site, done, std::move(finish));
  }

  template <typename Enqueue>
  void p2p(const char* op, const Tensor& t, int peer, Enqueue&& enqueue) {
    cuda::DeviceGuard on(device_);
    cuda::DeviceContext& ctx = cuda::device_context(device_);
    cuda::stream_wait(device_, ctx.comm, cuda::current_stream(device_));
    check_result(enqueue(ctx.comm), op);
    keep_on(t, ctx.comm);
    cudaEvent_t done = ctx.events.acquire();
    MOE_CUDA_CHECK(cudaEventRecord(done, ctx.comm));
    WaitSite site{op, p2p_};
    site.peer = peer;
    NcclWork(*this, site, done, [] { return Tensor(); }).wait();
  }

  std::unique_ptr<Communicator> host_;
  ncclComm_t comm_;
  int device_;
  int64_t collectives_ = 0, p2p_ = 0;
};

NcclWork::~NcclWork() {
  if (!finished_) wait();
}

bool NcclWork::done() { return finished_ || cuda::event_done(done_); }

void NcclWork::wait() {
  if (finished_) return;
  watched_wait(
      [&] {
        c_.check_async(site_);
        return cuda::event_done(done_);
      },
      site_, c_);
  // Later work on the compute stream is ordered after the operation.
  cuda::DeviceGuard on(c_.device());
  MOE_CUDA_CHECK(cudaStreamWaitEvent(cuda::current_stream(c_.device()), done_, 0));
  cuda::device_context(c_.device()).events.release(done_);
  finished_ = true;
  result_ = finish_();
}

}  // namespace

bool nccl_available() { return true; }

std::unique_ptr<Communicator> nccl_communicator(std::unique_ptr<Communicator> host, int device) {
  MOE_CHECK(host != nullptr, "nccl_communicator: no host group");
  cuda::DeviceGuard on(device);
  ncclComm_t comm = init_over(*host, device);
  return std::make_unique<NcclCommunicator>(std::move(host), comm, device);
}

}  // namespace moe::comm

#endif
