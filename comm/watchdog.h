#pragma once
// The watchdog behind every blocking wait: poll the operation with backoff
// and abort the whole job once it has waited longer than the group's
// timeout, naming the operation and the group, so no rank hangs silently
// behind a peer that crashed or called collectives in another order.
#include <functional>
#include <string>

#include "comm/communicator.h"

namespace moe::comm {

// Calls `done` until it returns true. Spins a little, then yields, then
// sleeps in growing steps (capped well under a millisecond), so ranks
// oversubscribed on few cores leave the CPU to the peers they wait for.
// Past c.timeout_s() it calls abort_job(timeout_message(...)).
void watched_wait(const std::function<bool()>& done, const char* op, const Communicator& c);

// "all_to_all_single on group 'ep' (rank 1 of 2) waited 60.0 s (timeout) ..."
std::string timeout_message(const char* op, const Communicator& c, double waited_s);

}  // namespace moe::comm
