#pragma once
// How timed-out ranks learn where the others are: a duplicate of
// MPI_COMM_WORLD reserved for positions (comm/hang_report.h). A rank whose
// wait times out sends its position to every world rank with nonblocking
// sends and collects what arrives for a grace period; a rank that is
// itself still waiting answers such queries from its wait loop. Nothing
// here blocks (a peer may be SIGSTOPped or spinning), and everything runs
// on the calling thread (the MPI thread level is FUNNELED).
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "comm/hang_report.h"

namespace moe::comm {

// Collective over MPI_COMM_WORLD, once, from mpi_init: creates the channel
// and gathers every rank's host name (so a rank that never answers can
// still be named with its host).
void init_hang_channel();
// Host of every world rank (only this process's without MPI).
const std::vector<std::string>& world_hosts();

// Live groups of this process, reported with each position. Communicators
// register themselves for their lifetime.
void track_group(const Communicator& c);
void untrack_group(const Communicator& c);
GroupMark group_mark(const Communicator& c);
std::vector<GroupMark> live_groups();

// Answers the queries that have arrived with me() (called only if one has).
// Returns at once when there is none, or without MPI.
void serve_hang_queries(const std::function<Position()>& me);
// Sends `me` to every other world rank and collects their positions until
// all have given one or `grace_s` has passed. A query a peer sent since
// `since` counts as its answer. Without MPI or peers: empty.
std::vector<Position> gather_positions(const Position& me, std::chrono::steady_clock::time_point since,
                                       double grace_s);

}  // namespace moe::comm
