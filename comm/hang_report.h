#pragma once
// The hang report: where each rank is stuck, and who never reached the
// operation a timed-out rank waits in. Pure (no MPI): the watchdog gathers
// positions over MPI (comm/hang_exchange.h) and formats them here.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace moe::comm {

// One group as a rank sees it. Name, size and the world rank of group rank 0
// tell groups apart across ranks (every member agrees on all three).
struct GroupMark {
  std::string name;
  int size = 1;
  int first_world_rank = 0;
  int64_t collectives = 0;  // collectives this rank has started on the group

  bool same_group(const GroupMark& o) const {
    return name == o.name && size == o.size && first_world_rank == o.first_world_rank;
  }
};

// Where one rank is: the operation it waits in, and how far it got on every
// group it belongs to.
struct Position {
  int world_rank = 0;
  GroupMark group;  // the group of the waited-for operation
  int group_rank = 0;
  std::string op;
  // Collectives: the group's collective number (every member numbers the
  // same collective alike). Point-to-point: this rank's own count of
  // send/recv on the group.
  int64_t seq = 0;
  int peer_world_rank = -1;  // point-to-point only: the other side
  int tag = -1;
  double waited_s = 0;
  std::vector<GroupMark> groups;  // every live group of this rank

  bool point_to_point() const { return peer_world_rank >= 0; }
};

// Text form for the wire; decode returns nullopt for anything malformed.
std::string encode_position(const Position& p);
std::optional<Position> decode_position(const std::string& text);

// "all_to_all_single (collective 88 on group 'ep', 4.9 s)" or
// "recv from world rank 0 (group 'watch', tag 77, 4.9 s)".
std::string describe_wait(const Position& p);

// Who kept `me` waiting. `members`: the world ranks of me.group in group
// rank order; `answers`: the positions other ranks sent during the grace
// period (any order, at most one per rank); `hosts[r]`: world rank r's host
// (may be shorter than the world: "?" then). For a collective: the members
// that never reached collective me.seq ("collective 1234 (all_reduce on
// group 'dp') was never reached by world rank 3 (host X): it did not
// answer ..."), or, when all did, which of them is in another operation
// there. For point-to-point: where the peer is. Ends with the other world
// ranks that did not answer (world_size of them expected). Empty when the
// group has no other member.
std::string missing_report(const Position& me, const std::vector<int>& members, const std::vector<Position>& answers,
                           const std::vector<std::string>& hosts, int world_size);

}  // namespace moe::comm
