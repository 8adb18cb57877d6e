#include "launch/hang_injection.h"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "comm/mpi_communicator.h"
#include "core/error.h"

namespace moe::launch {

void maybe_inject_hang(int rank, int64_t step) {
  const char* spec = std::getenv("MOE_INJECT_HANG");
  if (!spec) return;
  int who = -1;
  long long at = -1;
  char how[8] = {0};
  const bool parsed = std::sscanf(spec, "%d:%lld:%7s", &who, &at, how) == 3 &&
                      (std::strcmp(how, "stop") == 0 || std::strcmp(how, "sleep") == 0);
  MOE_CHECK(parsed, "MOE_INJECT_HANG='", spec, "' is not rank:step:stop or rank:step:sleep");
  if (who != rank || at != step) return;
  std::fprintf(stderr, "[%s] injected hang (MOE_INJECT_HANG=%s) at step %lld\n", comm::rank_label().c_str(), spec,
               static_cast<long long>(step));
  std::fflush(stderr);
  if (std::strcmp(how, "stop") == 0) {
    std::raise(SIGSTOP);
    return;  // continued (SIGCONT): carry on as a rank that was only late
  }
  for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
}

}  // namespace moe::launch
