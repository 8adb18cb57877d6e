#pragma once
// MpiCommunicator: the Communicator over an MPI communicator, for CPU
// tensors. Blocking calls are nonblocking MPI operations polled under the
// watchdog (see communicator.h). Also: the process-wide MPI runtime and a
// size-1 communicator for runs without MPI.
#include <functional>
#include <memory>
#include <string>

#include "comm/communicator.h"

namespace moe::comm {

// MPI_Init_thread once per process (idempotent; safe to call from tests);
// MPI_Finalize at exit. Returns false when this process was not started by
// a launcher (mpirun/srun) and MPI should not be used (size-1 run).
// Detection: OMPI_COMM_WORLD_SIZE, PMI_SIZE/PMI_RANK, PMIX_RANK, or
// SLURM_PROCID inside an srun step; MOE_MPI=1 / MOE_MPI=0 forces either way.
// Only the calling (main) thread may use MPI afterwards (MPI_THREAD_FUNNELED).
bool mpi_init(int* argc, char*** argv);
bool mpi_active();
// Prints "[rank R on HOST] message" to stderr and MPI_Abort()s every rank
// with `code` (plain exit(code) when MPI is not active).
[[noreturn]] void abort_job(const std::string& message, int code = 1);
// Tests only: while a handler is set, abort_job calls it with the line it
// would print and then throws moe::Error(message) instead of aborting.
// An empty function restores the real abort.
void set_abort_handler_for_testing(std::function<void(const std::string&)> handler);
// This process's rank and host name for messages ("rank 3 on node-a").
std::string rank_label();

// Watchdog timeout of new groups: MOE_COMM_TIMEOUT_S (seconds) if set, else
// 300 s.
double default_timeout_s();

// The world group (MPI_COMM_WORLD itself, not a duplicate, so creating one is
// not collective) when MPI is active, else a size-1 group named "world".
// Calls mpi_init(nullptr, nullptr) if nobody has. timeout_s <= 0 means
// default_timeout_s(). Groups made by split() inherit the timeout.
std::unique_ptr<Communicator> world_communicator(double timeout_s);
// A group of one rank (every collective is the identity).
std::unique_ptr<Communicator> self_communicator(const std::string& name = "self");

}  // namespace moe::comm
