// The hang report as a pure function: positions in, the line naming who
// never reached the operation out.
#include <gtest/gtest.h>

#include "comm/hang_report.h"

namespace moe::test {
namespace {

using comm::GroupMark;
using comm::Position;

const std::vector<std::string> kHosts = {"node-a", "node-a", "node-b", "node-b", "node-c", "node-c", "node-d",
                                         "node-d"};
const GroupMark kDp{"dp", 4, 0, 1234};
const GroupMark kEp{"ep", 2, 2, 88};
const GroupMark kWorld{"world", 8, 0, 5000};

Position waiting_in(int world_rank, const GroupMark& g, const std::string& op, int64_t seq, double waited,
                    std::vector<GroupMark> groups) {
  Position p;
  p.world_rank = world_rank;
  p.group = g;
  p.op = op;
  p.seq = seq;
  p.waited_s = waited;
  p.groups = std::move(groups);
  return p;
}

Position me_in_dp() { return waiting_in(0, kDp, "all_reduce", 1234, 5.0, {kWorld, kDp}); }

TEST(HangReport, PositionRoundTrip) {
  Position p = waiting_in(3, kEp, "all\tto_all", 88, 4.25, {kWorld, kDp, kEp});
  p.group_rank = 1;
  p.peer_world_rank = 2;
  p.tag = 77;
  const std::optional<Position> q = comm::decode_position(comm::encode_position(p));
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->world_rank, 3);
  EXPECT_EQ(q->group_rank, 1);
  EXPECT_EQ(q->op, "all to_all");  // separators never travel inside a name
  EXPECT_EQ(q->seq, 88);
  EXPECT_EQ(q->peer_world_rank, 2);
  EXPECT_EQ(q->tag, 77);
  EXPECT_NEAR(q->waited_s, 4.25, 0.051);
  EXPECT_TRUE(q->group.same_group(kEp));
  EXPECT_EQ(q->group.collectives, 88);
  ASSERT_EQ(q->groups.size(), 3u);
  EXPECT_TRUE(q->groups[1].same_group(kDp));
  EXPECT_EQ(q->groups[1].collectives, 1234);
  EXPECT_FALSE(comm::decode_position("").has_value());
  EXPECT_FALSE(comm::decode_position("P\t1\t2\n").has_value());
  EXPECT_FALSE(comm::decode_position(comm::encode_position(p) + "X\tjunk\n").has_value());
}

TEST(HangReport, NamesTheSilentAndTheBehindRank) {
  // Rank 1 waits in the same collective; rank 2 is one collective behind on
  // dp, stuck in an ep all-to-all; rank 3 never answered.
  GroupMark dp2 = kDp;
  dp2.collectives = 1230;
  const std::vector<Position> answers = {
      waiting_in(1, kDp, "all_reduce", 1234, 4.9, {kWorld, kDp}),
      waiting_in(2, kEp, "all_to_all_single", 88, 4.2, {kWorld, dp2, kEp}),
  };
  EXPECT_EQ(comm::missing_report(me_in_dp(), {0, 1, 2, 3}, answers, kHosts, 4),
            "collective 1234 (all_reduce on group 'dp') was never reached by 2 ranks: world rank 2 (host node-b): "
            "it is at collective 1230 of 'dp' and waits in all_to_all_single (collective 88 on group 'ep', 4.2 s); "
            "world rank 3 (host node-b): it did not answer (not in a communication wait: stopped, busy outside "
            "communication, or dead)");
}

TEST(HangReport, OneSilentRank) {
  const std::vector<Position> answers = {waiting_in(1, kDp, "all_reduce", 1234, 4.9, {kDp}),
                                         waiting_in(2, kDp, "all_reduce", 1234, 4.8, {kDp})};
  EXPECT_EQ(comm::missing_report(me_in_dp(), {0, 1, 2, 3}, answers, kHosts, 4),
            "collective 1234 (all_reduce on group 'dp') was never reached by world rank 3 (host node-b): it did "
            "not answer (not in a communication wait: stopped, busy outside communication, or dead)");
}

TEST(HangReport, StartedAsynchronouslyCountsAsReached) {
  // Rank 3 started collective 1234 (async) and now waits in ep: not missing;
  // rank 2 waits earlier on dp itself.
  GroupMark dp_ahead = kDp, dp_behind = kDp;
  dp_ahead.collectives = 1235;
  dp_behind.collectives = 1233;
  const std::vector<Position> answers = {
      waiting_in(1, kDp, "all_reduce", 1234, 4.9, {kDp}),
      waiting_in(2, dp_behind, "broadcast", 1233, 4.9, {dp_behind}),
      waiting_in(3, kEp, "all_to_all_single", 88, 4.0, {dp_ahead, kEp}),
  };
  EXPECT_EQ(comm::missing_report(me_in_dp(), {0, 1, 2, 3}, answers, kHosts, 4),
            "collective 1234 (all_reduce on group 'dp') was never reached by world rank 2 (host node-b): it waits "
            "in broadcast (collective 1233 on group 'dp', 4.9 s)");
}

TEST(HangReport, UnknownGroupPosition) {
  const std::vector<Position> answers = {waiting_in(1, kEp, "barrier", 3, 1.0, {kEp})};
  EXPECT_EQ(comm::missing_report(waiting_in(0, GroupMark{"dp", 2, 0, 9}, "all_reduce", 9, 5.0, {}), {0, 1}, answers,
                                 kHosts, 2),
            "collective 9 (all_reduce on group 'dp') was never reached by world rank 1 (host node-a): it waits in "
            "barrier (collective 3 on group 'ep', 1.0 s) (its position on group 'dp' is unknown)");
}

TEST(HangReport, CollectivesInAnotherOrder) {
  const std::vector<Position> answers = {waiting_in(1, kDp, "broadcast", 1234, 4.9, {kDp}),
                                         waiting_in(2, kDp, "all_reduce", 1234, 4.9, {kDp}),
                                         waiting_in(3, kDp, "all_gather", 1240, 4.9, {kDp})};
  EXPECT_EQ(comm::missing_report(me_in_dp(), {0, 1, 2, 3}, answers, kHosts, 4),
            "every rank of group 'dp' reached collective 1234, but world rank 1 (host node-a) is in broadcast "
            "there; world rank 3 (host node-b) is past it, in all_gather (collective 1240 on group 'dp', 4.9 s) "
            "(this rank: all_reduce): the ranks called the collectives in another order");
}

TEST(HangReport, EveryRankInTheSameCollective) {
  const std::vector<Position> answers = {waiting_in(1, kDp, "all_reduce", 1234, 4.9, {kDp}),
                                         waiting_in(2, kDp, "all_reduce", 1234, 0.4, {kDp}),
                                         waiting_in(3, kDp, "all_reduce", 1234, 4.7, {kDp})};
  EXPECT_EQ(comm::missing_report(me_in_dp(), {0, 1, 2, 3}, answers, kHosts, 4),
            "every rank of group 'dp' is in collective 1234 (all_reduce on group 'dp') now, the shortest wait "
            "being 0.4 s by world rank 2 (host node-b): it arrived late, or the operation itself does not complete "
            "(MPI or network failure)");
}

TEST(HangReport, PointToPoint) {
  Position me = waiting_in(0, GroupMark{"watch", 4, 0, 0}, "recv", 1, 0.2, {});
  me.peer_world_rank = 1;
  me.tag = 77;
  const std::vector<Position> answers = {waiting_in(1, GroupMark{"watch", 4, 0, 1}, "barrier", 1, 0.2, {}),
                                         waiting_in(2, GroupMark{"watch", 4, 0, 1}, "barrier", 1, 0.2, {}),
                                         waiting_in(3, GroupMark{"watch", 4, 0, 1}, "barrier", 1, 0.2, {})};
  EXPECT_EQ(comm::missing_report(me, {0, 1, 2, 3}, answers, kHosts, 4),
            "recv from world rank 1 (host node-a) with tag 77 on group 'watch' was never matched: it waits in "
            "barrier (collective 1 on group 'watch', 0.2 s)");
  EXPECT_EQ(comm::missing_report(me, {0, 1, 2, 3}, {answers[1], answers[2]}, kHosts, 4),
            "recv from world rank 1 (host node-a) with tag 77 on group 'watch' was never matched: it did not "
            "answer (not in a communication wait: stopped, busy outside communication, or dead)");
  Position peer_sends = answers[0];
  peer_sends.op = "send";
  peer_sends.peer_world_rank = 3;
  peer_sends.tag = 5;
  EXPECT_EQ(comm::describe_wait(peer_sends), "send to world rank 3 (group 'watch', tag 5, 0.2 s)");
}

TEST(HangReport, SilentRanksOutsideTheGroupAreListedOnce) {
  // An ep pair on an 8-rank world: the partner answered; world ranks 1, 4
  // .. 7 did not (a cut at 8 names keeps the line short on big jobs).
  const Position me = waiting_in(2, kEp, "all_to_all_single", 88, 5.0, {kWorld, kEp});
  const std::vector<Position> answers = {waiting_in(3, kEp, "all_to_all_single", 88, 4.0, {kWorld, kEp}),
                                         waiting_in(0, kWorld, "all_reduce", 5000, 4.0, {kWorld})};
  EXPECT_EQ(comm::missing_report(me, {2, 3}, answers, kHosts, 8),
            "every rank of group 'ep' is in collective 88 (all_to_all_single on group 'ep') now, the shortest wait "
            "being 4.0 s by world rank 3 (host node-b): it arrived late, or the operation itself does not complete "
            "(MPI or network failure); other world ranks that did not answer: 1 (host node-a), 4 (host node-c), "
            "5 (host node-c), 6 (host node-d), 7 (host node-d)");
  const Position wide = waiting_in(0, GroupMark{"world", 12, 0, 1}, "barrier", 1, 5.0, {});
  std::vector<int> members(12);
  for (int r = 0; r < 12; ++r) members[size_t(r)] = r;
  const std::string line = comm::missing_report(wide, members, {}, kHosts, 12);
  EXPECT_EQ(line.rfind("collective 1 (barrier on group 'world') was never reached by 11 ranks: world rank 1 (host "
                       "node-a): it did not answer",
                       0),
            0u)
      << line;
  // Hosts beyond the table print as "?".
  EXPECT_NE(line.find("world rank 8 (host ?): it did not answer (not in a communication wait: stopped, busy "
                      "outside communication, or dead); and 3 more"),
            std::string::npos)
      << line;
  EXPECT_EQ(line.find("world rank 9 "), std::string::npos) << line;  // cut
  EXPECT_EQ(line.find("other world ranks"), std::string::npos) << line;       // all already named
}

TEST(HangReport, GroupOfOneHasNobodyToName) {
  EXPECT_EQ(comm::missing_report(waiting_in(0, GroupMark{"self", 1, 0, 1}, "barrier", 1, 1.0, {}), {0}, {}, kHosts,
                                 4),
            "");
}

}  // namespace
}  // namespace moe::test
