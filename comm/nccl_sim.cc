// <nccl.h> under the SIMT shim (core/cuda/simt/include/nccl.h): each NCCL
// operation becomes the matching MPI call on host memory (SIM device
// memory is host memory), run by the stream's host worker when the stream
// reaches it. Grouped sends and receives run together as nonblocking MPI
// operations and one wait, as NCCL fuses a group. MPI then runs on several
// threads: under SIM, mpi_init asks for MPI_THREAD_MULTIPLE.
#if defined(MOE_CUDA_SIM)
#include <mpi.h>
#include <nccl.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

struct ncclComm {
  MPI_Comm mpi = MPI_COMM_NULL;
  int rank = 0, size = 1;
  std::atomic<int> error{ncclSuccess};  // the first failure of an operation on a stream
};

namespace {

constexpr int kP2pTag = 0x4e43;  // "NC": sends and receives match in order per (peer, group)

size_t type_size(ncclDataType_t t) {
  switch (t) {
    case ncclInt8: case ncclUint8: return 1;
    case ncclFloat16: case ncclBfloat16: return 2;
    case ncclInt32: case ncclUint32: case ncclFloat32: return 4;
    default: return 8;
  }
}

// Byte-exact movement for every type; arithmetic for the reducible ones.
MPI_Datatype mpi_type(ncclDataType_t t, bool reduce) {
  switch (t) {
    case ncclInt32: return MPI_INT32_T;
    case ncclUint32: return MPI_UINT32_T;
    case ncclInt64: return MPI_INT64_T;
    case ncclUint64: return MPI_UINT64_T;
    case ncclFloat32: return MPI_FLOAT;
    case ncclFloat64: return MPI_DOUBLE;
    case ncclInt8: return MPI_INT8_T;
    case ncclUint8: return MPI_UINT8_T;
    default: return reduce ? MPI_DATATYPE_NULL : MPI_UINT16_T;
  }
}

MPI_Op mpi_op(ncclRedOp_t op) {
  switch (op) {
    case ncclSum: case ncclAvg: return MPI_SUM;
    case ncclProd: return MPI_PROD;
    case ncclMax: return MPI_MAX;
    case ncclMin: return MPI_MIN;
  }
  return MPI_OP_NULL;
}

template <typename T>
void divide(void* p, size_t n, int by) {
  T* v = static_cast<T*>(p);
  for (size_t i = 0; i < n; ++i) v[i] = T(v[i] / T(by));
}
// ncclAvg: the sum divided by the group size.
void average(void* p, size_t n, ncclDataType_t t, int size) {
  switch (t) {
    case ncclFloat32: return divide<float>(p, n, size);
    case ncclFloat64: return divide<double>(p, n, size);
    case ncclInt32: return divide<int32_t>(p, n, size);
    case ncclInt64: return divide<int64_t>(p, n, size);
    default: return;
  }
}

// fn on the stream's worker, in stream order; an MPI failure becomes the
// communicator's asynchronous error.
ncclResult_t on_stream(ncclComm_t comm, cudaStream_t stream, std::function<int()> fn) {
  auto* task = new std::function<void()>([comm, fn = std::move(fn)] {
    if (fn() != MPI_SUCCESS) {
      int expected = ncclSuccess;
      comm->error.compare_exchange_strong(expected, ncclSystemError);
    }
  });
  const cudaError_t err = cudaLaunchHostFunc(
      stream,
      [](void* p) {
        auto* f = static_cast<std::function<void()>*>(p);
        (*f)();
        delete f;
      },
      task);
  if (err != cudaSuccess) {
    delete task;
    return ncclUnhandledCudaError;
  }
  return ncclSuccess;
}

// The one-rank group's collectives: the input is the result.
int local_copy(void* recv, const void* send, size_t bytes) {
  if (send != recv && bytes > 0) std::memcpy(recv, send, bytes);
  return MPI_SUCCESS;
}

struct P2p {
  bool send;
  void* buf;
  size_t bytes;
  int peer;
  ncclComm_t comm;
};
// The open group of this thread: its sends and receives, issued at ncclGroupEnd.
thread_local int g_group_depth = 0;
thread_local std::vector<P2p> g_group;
thread_local cudaStream_t g_group_stream = nullptr;

ncclResult_t p2p(P2p op, cudaStream_t stream) {
  if (op.peer < 0 || op.peer >= op.comm->size || op.comm->mpi == MPI_COMM_NULL) return ncclInvalidArgument;
  if (g_group_depth > 0) {
    if (!g_group.empty() && g_group_stream != stream) return ncclInvalidUsage;  // one stream per group here
    g_group_stream = stream;
    g_group.push_back(op);
    return ncclSuccess;
  }
  return on_stream(op.comm, stream, [op] {
    return op.send ? MPI_Send(op.buf, int(op.bytes), MPI_BYTE, op.peer, kP2pTag, op.comm->mpi)
                   : MPI_Recv(op.buf, int(op.bytes), MPI_BYTE, op.peer, kP2pTag, op.comm->mpi, MPI_STATUS_IGNORE);
  });
}

}  // namespace

const char* ncclGetErrorString(ncclResult_t r) {
  switch (r) {
    case ncclSuccess: return "no error";
    case ncclUnhandledCudaError: return "unhandled cuda error (SIM shim)";
    case ncclSystemError: return "unhandled system error (SIM shim: an MPI call failed)";
    case ncclInternalError: return "internal error (SIM shim)";
    case ncclInvalidArgument: return "invalid argument (SIM shim)";
    case ncclInvalidUsage: return "invalid usage (SIM shim)";
    case ncclRemoteError: return "remote process exited or there was a network error (SIM shim)";
    case ncclInProgress: return "NCCL operation in progress";
  }
  return "unknown result";
}

ncclResult_t ncclGetUniqueId(ncclUniqueId* id) {
  if (!id) return ncclInvalidArgument;
  std::random_device rd;
  for (char& c : id->internal) c = char(rd());
  return ncclSuccess;
}

ncclResult_t ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId, int rank) {
  int mpi_on = 0;
  MPI_Initialized(&mpi_on);
  if (!mpi_on) {  // a run without mpirun: one rank, the operations are local copies
    if (!comm || nranks != 1 || rank != 0) return ncclInvalidUsage;
    *comm = new ncclComm;
    return ncclSuccess;
  }
  int world_size = 0, world_rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  if (!comm || nranks != world_size || rank != world_rank) return ncclInvalidUsage;  // world only (see nccl.h)
  auto* c = new ncclComm;
  if (MPI_Comm_dup(MPI_COMM_WORLD, &c->mpi) != MPI_SUCCESS) {
    delete c;
    return ncclSystemError;
  }
  MPI_Comm_set_errhandler(c->mpi, MPI_ERRORS_RETURN);
  c->rank = rank;
  c->size = nranks;
  *comm = c;
  return ncclSuccess;
}

ncclResult_t ncclCommSplit(ncclComm_t comm, int color, int key, ncclComm_t* newcomm, ncclConfig_t*) {
  if (!comm || !newcomm) return ncclInvalidArgument;
  if (comm->mpi == MPI_COMM_NULL) {  // the one-rank group splits into itself (or nothing)
    *newcomm = color == NCCL_SPLIT_NOCOLOR ? nullptr : new ncclComm;
    return ncclSuccess;
  }
  MPI_Comm out = MPI_COMM_NULL;
  if (MPI_Comm_split(comm->mpi, color == NCCL_SPLIT_NOCOLOR ? MPI_UNDEFINED : color, key, &out) != MPI_SUCCESS)
    return ncclSystemError;
  if (out == MPI_COMM_NULL) {
    *newcomm = nullptr;
    return ncclSuccess;
  }
  auto* c = new ncclComm;
  c->mpi = out;
  MPI_Comm_set_errhandler(c->mpi, MPI_ERRORS_RETURN);
  MPI_Comm_rank(out, &c->rank);
  MPI_Comm_size(out, &c->size);
  *newcomm = c;
  return ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  if (!comm) return ncclSuccess;
  if (comm->mpi != MPI_COMM_NULL) MPI_Comm_free(&comm->mpi);
  delete comm;
  return ncclSuccess;
}

// Aborting frees nothing collective (the peers may be gone); the job ends next.
ncclResult_t ncclCommAbort(ncclComm_t) { return ncclSuccess; }

ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t* async_error) {
  if (!comm || !async_error) return ncclInvalidArgument;
  *async_error = ncclResult_t(comm->error.load());
  return ncclSuccess;
}

ncclResult_t ncclCommCount(const ncclComm_t comm, int* count) {
  if (!comm || !count) return ncclInvalidArgument;
  *count = comm->size;
  return ncclSuccess;
}

ncclResult_t ncclCommUserRank(const ncclComm_t comm, int* rank) {
  if (!comm || !rank) return ncclInvalidArgument;
  *rank = comm->rank;
  return ncclSuccess;
}

ncclResult_t ncclAllReduce(const void* send, void* recv, size_t count, ncclDataType_t t, ncclRedOp_t op,
                           ncclComm_t comm, cudaStream_t stream) {
  const MPI_Datatype mt = mpi_type(t, true);
  if (!comm || mt == MPI_DATATYPE_NULL || mpi_op(op) == MPI_OP_NULL) return ncclInvalidArgument;
  return on_stream(comm, stream, [=] {
    if (comm->mpi == MPI_COMM_NULL) return local_copy(recv, send, count * type_size(t));
    const int rc = MPI_Allreduce(send == recv ? MPI_IN_PLACE : send, recv, int(count), mt, mpi_op(op), comm->mpi);
    if (rc == MPI_SUCCESS && op == ncclAvg) average(recv, count, t, comm->size);
    return rc;
  });
}

ncclResult_t ncclAllGather(const void* send, void* recv, size_t count, ncclDataType_t t, ncclComm_t comm,
                           cudaStream_t stream) {
  if (!comm) return ncclInvalidArgument;
  const size_t bytes = count * type_size(t);
  return on_stream(comm, stream, [=] {
    if (comm->mpi == MPI_COMM_NULL) return local_copy(recv, send, bytes);
    const bool in_place = send == static_cast<const char*>(recv) + size_t(comm->rank) * bytes;
    return MPI_Allgather(in_place ? MPI_IN_PLACE : send, int(bytes), MPI_BYTE, recv, int(bytes), MPI_BYTE,
                         comm->mpi);
  });
}

ncclResult_t ncclReduceScatter(const void* send, void* recv, size_t count, ncclDataType_t t, ncclRedOp_t op,
                               ncclComm_t comm, cudaStream_t stream) {
  const MPI_Datatype mt = mpi_type(t, true);
  if (!comm || mt == MPI_DATATYPE_NULL || mpi_op(op) == MPI_OP_NULL) return ncclInvalidArgument;
  return on_stream(comm, stream, [=] {
    if (comm->mpi == MPI_COMM_NULL) return local_copy(recv, send, count * type_size(t));
    const int rc = MPI_Reduce_scatter_block(send, recv, int(count), mt, mpi_op(op), comm->mpi);
    if (rc == MPI_SUCCESS && op == ncclAvg) average(recv, count, t, comm->size);
    return rc;
  });
}

ncclResult_t ncclBroadcast(const void* send, void* recv, size_t count, ncclDataType_t t, int root, ncclComm_t comm,
                           cudaStream_t stream) {
  if (!comm || root < 0 || root >= comm->size) return ncclInvalidArgument;
  const size_t bytes = count * type_size(t);
  return on_stream(comm, stream, [=] {
    if (comm->rank == root && send != recv) std::memcpy(recv, send, bytes);
    return comm->mpi == MPI_COMM_NULL ? MPI_SUCCESS : MPI_Bcast(recv, int(bytes), MPI_BYTE, root, comm->mpi);
  });
}

ncclResult_t ncclSend(const void* send, size_t count, ncclDataType_t t, int peer, ncclComm_t comm,
                      cudaStream_t stream) {
  if (!comm) return ncclInvalidArgument;
  return p2p({true, const_cast<void*>(send), count * type_size(t), peer, comm}, stream);
}

ncclResult_t ncclRecv(void* recv, size_t count, ncclDataType_t t, int peer, ncclComm_t comm, cudaStream_t stream) {
  if (!comm) return ncclInvalidArgument;
  return p2p({false, recv, count * type_size(t), peer, comm}, stream);
}

ncclResult_t ncclGroupStart() {
  ++g_group_depth;
  return ncclSuccess;
}

ncclResult_t ncclGroupEnd() {
  if (g_group_depth == 0) return ncclInvalidUsage;
  if (--g_group_depth > 0 || g_group.empty()) return ncclSuccess;
  std::vector<P2p> ops;
  ops.swap(g_group);
  return on_stream(ops.front().comm, g_group_stream, [ops] {
    std::vector<MPI_Request> reqs(ops.size(), MPI_REQUEST_NULL);
    int rc = MPI_SUCCESS;
    for (size_t i = 0; i < ops.size() && rc == MPI_SUCCESS; ++i) {
      const P2p& o = ops[i];
      rc = o.send ? MPI_Isend(o.buf, int(o.bytes), MPI_BYTE, o.peer, kP2pTag, o.comm->mpi, &reqs[i])
                  : MPI_Irecv(o.buf, int(o.bytes), MPI_BYTE, o.peer, kP2pTag, o.comm->mpi, &reqs[i]);
    }
    const int wrc = MPI_Waitall(int(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE);
    return rc != MPI_SUCCESS ? rc : wrc;
  });
}
#endif
