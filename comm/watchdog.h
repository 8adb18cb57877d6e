#pragma once
// The watchdog behind every blocking wait: poll the operation with backoff
// and abort the whole job once it has waited longer than the group's
// timeout, so no rank hangs silently behind a peer that crashed, hangs or
// called collectives in another order. Before aborting, the ranks that can
// still talk share their positions (comm/hang_exchange.h) and the abort
// line names the ranks that never reached the operation, with their hosts.
#include <cstdint>
#include <functional>
#include <string>

#include "comm/communicator.h"

namespace moe::comm {

// The operation a wait is for.
struct WaitSite {
  const char* op;
  int64_t seq = 0;  // its collective number on the group, or this rank's send/recv count
  int peer = -1;    // send/recv: the group rank of the other side; -1 for collectives
  int tag = -1;
};

// Calls `done` until it returns true. Spins a little, then yields, then
// sleeps in growing steps (capped well under a millisecond), so ranks
// oversubscribed on few cores leave the CPU to the peers they wait for.
// After 100 ms it also answers other ranks' position queries every 20 ms.
// Past c.timeout_s() it gathers positions for report_grace_s() at most and
// calls abort_job(timeout_message(...)).
void watched_wait(const std::function<bool()>& done, const WaitSite& site, const Communicator& c);

// How long a timed-out rank collects the others' positions: the timeout,
// clamped to [0.5, 3] s (so a job ends within timeout + 5 s).
double report_grace_s(double timeout_s);

// "all_to_all_single on group 'ep' (rank 1 of 2), collective 88, waited
// 60.0 s (timeout; ...): <analysis>; aborting the job". An empty analysis
// (nobody else to ask) says what the usual causes are.
std::string timeout_message(const WaitSite& site, const Communicator& c, double waited_s,
                            const std::string& analysis);

}  // namespace moe::comm
