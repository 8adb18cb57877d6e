// The process-wide MPI runtime: launcher detection, init/finalize, abort.
#include <mpi.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "comm/hang_exchange.h"
#include "comm/mpi_communicator.h"
#include "core/error.h"

namespace moe::comm {

namespace {

enum class State { undecided, inactive, active };
State g_state = State::undecided;
std::function<void(const std::string&)> g_abort_handler;

bool env_set(const char* name) { return std::getenv(name) != nullptr; }

// mpirun (Open MPI, MPICH/Hydra, PMIx launchers) and srun steps leave these
// in the environment of every rank they start.
bool started_by_launcher() {
  if (const char* force = std::getenv("MOE_MPI")) return std::strcmp(force, "0") != 0;
  if (env_set("OMPI_COMM_WORLD_SIZE") || env_set("PMI_SIZE") || env_set("PMI_RANK") || env_set("PMIX_RANK"))
    return true;
  // SLURM_PROCID alone is also set inside a batch script; a step has an id.
  return env_set("SLURM_PROCID") && env_set("SLURM_STEP_ID");
}

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

}  // namespace

bool mpi_init(int* argc, char*** argv) {
  if (g_state != State::undecided) return g_state == State::active;
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized && !started_by_launcher()) {
    g_state = State::inactive;
    return false;
  }
  if (!initialized) {
    // Under the SIMT shim the NCCL shim runs MPI on the streams' host
    // workers too (comm/nccl_sim.cc).
#if defined(MOE_CUDA_SIM)
    const int wanted = MPI_THREAD_MULTIPLE;
#else
    const int wanted = MPI_THREAD_FUNNELED;
#endif
    int provided = 0;
    if (MPI_Init_thread(argc, argv, wanted, &provided) != MPI_SUCCESS) {
      std::fprintf(stderr, "MPI_Init_thread failed although a launcher started this process\n");
      std::exit(1);
    }
    MOE_CHECK(provided >= wanted, "mpi_init: the MPI library provides thread level ", provided, ", below ", wanted);
    std::atexit(finalize_at_exit);
  }
  // Errors come back as codes and become moe::Error naming the op and group.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  init_hang_channel();
  g_state = State::active;
  return true;
}

bool mpi_active() { return g_state == State::active; }

std::string rank_label() {
  int rank = 0;
  if (mpi_active()) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  char host[256] = "?";
  gethostname(host, sizeof host - 1);
  host[sizeof host - 1] = '\0';
  return "rank " + std::to_string(rank) + " on " + host;
}

void set_abort_handler_for_testing(std::function<void(const std::string&)> handler) {
  g_abort_handler = std::move(handler);
}

void abort_job(const std::string& message, int code) {
  std::string line = "[";  // built by appends: GCC 12 warns (-Wrestrict) on "[" + string
  line.append(rank_label()).append("] ").append(message);
  if (g_abort_handler) {
    g_abort_handler(line);
    throw Error(message);
  }
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
  std::fflush(stdout);
  if (mpi_active()) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

double default_timeout_s() {
  if (const char* env = std::getenv("MOE_COMM_TIMEOUT_S")) {
    char* end = nullptr;
    const double v = std::strtod(env, &end);
    MOE_CHECK(end != env && *end == '\0' && v > 0, "MOE_COMM_TIMEOUT_S='", env,
              "' is not a positive number of seconds");
    return v;
  }
  return 300.0;
}

}  // namespace moe::comm
