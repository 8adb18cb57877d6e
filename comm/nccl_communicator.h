#pragma once
// NcclCommunicator: the Communicator on CUDA tensors over NCCL (under
// MOE_CUDA=SIM over the NCCL shim, core/cuda/simt/include/nccl.h, which is
// MPI on host memory). It keeps a host group of the same ranks (MPI, or the
// size-1 group) for what stays host code: the unique id's broadcast, the
// counts exchange (all_to_all_counts), barriers, and collectives on CPU
// tensors (statistics the trainer reduces), which it hands over unchanged.
//
// Device operations go to the device's communication stream after the
// compute stream's work so far (an event), and the compute stream waits for
// their end the same way; the tensors they read or write are marked in use
// by that stream, so the caching allocator reuses them only after it. A
// wait() also waits on the host, watched: past the group's timeout, or on an
// asynchronous NCCL error (ncclCommGetAsyncError), the job ends with the
// NCCL error text, the operation, the group and the rank (ncclCommAbort,
// then abort_job).
#include <memory>

#include "comm/communicator.h"

namespace moe::comm {

// Whether this build has NCCL or its SIM shim (a CUDA backend).
bool nccl_available();

// The NCCL group of the ranks of `host` (every rank of host calls it
// together), on CUDA device `device` of this rank. Sub-groups come from
// split() (ncclCommSplit). Throws in a build without NCCL.
std::unique_ptr<Communicator> nccl_communicator(std::unique_ptr<Communicator> host, int device);

}  // namespace moe::comm
