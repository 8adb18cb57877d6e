#include "launch/launcher_watch.h"

#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "comm/mpi_communicator.h"

namespace moe::launch {
namespace {

pid_t g_launcher = -1;
char g_line[512];
size_t g_line_len = 0;

// Async-signal-safe: getppid, write and _exit only.
void exit_if_orphaned() {
  if (::getppid() == g_launcher) return;
  const ssize_t n = ::write(2, g_line, g_line_len);
  (void)n;
  ::_exit(1);
}

extern "C" void on_parent_death(int) { exit_if_orphaned(); }

}  // namespace

bool watch_launcher(const std::string& label) {
  // MOE_MPI=1 runs MPI without a launcher: the parent is a shell, whose end
  // (nohup, a closed terminal) must not end the run.
  if (!comm::mpi_active() || std::getenv("MOE_MPI")) return false;
  g_launcher = ::getppid();
  const int len = std::snprintf(g_line, sizeof g_line,
                                "%s: the launcher (parent pid %d) is gone: stopping now, without saving\n",
                                label.c_str(), int(g_launcher));
  g_line_len = len < 0 ? 0 : std::min(size_t(len), sizeof g_line - 1);
  struct sigaction sa = {};
  sa.sa_handler = on_parent_death;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  // A real-time signal of our own: the usual ones mean something else here
  // (SIGTERM / SIGUSR1 ask for a save, which is what must not happen).
  const int sig = SIGRTMIN + 7;
  if (::sigaction(sig, &sa, nullptr) == 0) ::prctl(PR_SET_PDEATHSIG, sig);
  exit_if_orphaned();  // the launcher may have died before the prctl
  std::thread([] {
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      exit_if_orphaned();
    }
  }).detach();
  return true;
}

}  // namespace moe::launch
