#pragma once
// A rank whose launcher died (mpirun killed with SIGKILL, an orted lost)
// must not train on and commit checkpoints nobody asked for: Open MPI's
// ranks otherwise run for seconds after mpirun is gone. The launcher is the
// parent process (mpirun or orted under Open MPI, hydra_pmi_proxy under
// MPICH, slurmstepd under srun); when it goes away the process is
// re-parented, and the watch ends it at once with _exit, mid-step or
// mid-save alike (a save interrupted there is left uncommitted, as after a
// crash: checkpoint/save.cc's protocol keeps the previous one).
#include <string>

namespace moe::launch {

// Starts watching when this process was started by a launcher (MPI active
// and not forced by MOE_MPI): prctl(PR_SET_PDEATHSIG) with a signal whose
// handler checks getppid(), plus a thread polling getppid() every 200 ms
// (the death signal follows the parent *thread* that forked us, which may
// end before the launcher does). `label` starts the one line printed
// ("[rank 0 on host] moe-train"). Returns whether it is watching.
bool watch_launcher(const std::string& label);

}  // namespace moe::launch
