#include "comm/hang_report.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace moe::comm {

namespace {

// Long lists (a 1000-rank group that went silent) are cut to this many names.
constexpr size_t kMaxListed = 8;
constexpr const char* kSilent =
    "it did not answer (not in a communication wait: stopped, busy outside communication, or dead)";

// Names travel in tab-separated lines.
std::string clean(std::string s) {
  for (char& ch : s)
    if (ch == '\t' || ch == '\n') ch = ' ';
  return s;
}

std::string seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", s);
  return buf;
}

std::string mark_line(const char* kind, const GroupMark& g) {
  return absl::StrCat(kind, "\t", clean(g.name), "\t", g.size, "\t", g.first_world_rank, "\t", g.collectives, "\n");
}

bool parse_mark(const std::vector<std::string>& f, GroupMark& g) {
  if (f.size() != 5) return false;
  g.name = f[1];
  return absl::SimpleAtoi(f[2], &g.size) && absl::SimpleAtoi(f[3], &g.first_world_rank) &&
         absl::SimpleAtoi(f[4], &g.collectives);
}

std::string host_of(const std::vector<std::string>& hosts, int r) {
  return r >= 0 && size_t(r) < hosts.size() && !hosts[size_t(r)].empty() ? hosts[size_t(r)] : "?";
}

std::string who(const std::vector<std::string>& hosts, int r) {
  return absl::StrCat("world rank ", r, " (host ", host_of(hosts, r), ")");
}

std::string join_capped(const std::vector<std::string>& items, const char* sep) {
  if (items.size() <= kMaxListed) return absl::StrJoin(items, sep);
  std::vector<std::string> head(items.begin(), items.begin() + kMaxListed);
  return absl::StrCat(absl::StrJoin(head, sep), sep, "and ", items.size() - kMaxListed, " more");
}

void mark(std::vector<bool>& listed, int r) {
  if (r >= 0 && size_t(r) < listed.size()) listed[size_t(r)] = true;
}

const Position* answer_of(const std::vector<Position>& answers, int r) {
  for (const Position& a : answers)
    if (a.world_rank == r) return &a;
  return nullptr;
}

// The rank's count of collectives on group g, -1 when it does not list g.
int64_t collectives_on(const Position& p, const GroupMark& g) {
  if (!p.point_to_point() && p.group.same_group(g)) return p.group.collectives;
  for (const GroupMark& m : p.groups)
    if (m.same_group(g)) return m.collectives;
  return -1;
}

bool in_collective_of(const Position& p, const GroupMark& g) { return !p.point_to_point() && p.group.same_group(g); }

std::string collective_report(const Position& me, const std::vector<int>& members,
                              const std::vector<Position>& answers, const std::vector<std::string>& hosts,
                              std::vector<bool>& listed) {
  const std::string& g = me.group.name;
  std::vector<std::string> missing, elsewhere;
  const Position* latest = nullptr;  // of those in the same collective: the shortest wait
  for (int r : members) {
    if (r == me.world_rank) continue;
    const Position* a = answer_of(answers, r);
    if (!a) {
      missing.push_back(absl::StrCat(who(hosts, r), ": ", kSilent));
      mark(listed, r);
      continue;
    }
    if (in_collective_of(*a, me.group) && a->seq == me.seq) {
      if (a->op != me.op)
        elsewhere.push_back(absl::StrCat(who(hosts, r), " is in ", a->op, " there"));
      else if (!latest || a->waited_s < latest->waited_s)
        latest = a;
      continue;
    }
    if (in_collective_of(*a, me.group) && a->seq > me.seq) {
      elsewhere.push_back(absl::StrCat(who(hosts, r), " is past it, in ", describe_wait(*a)));
      continue;
    }
    const int64_t count = collectives_on(*a, me.group);
    if (count >= me.seq) continue;  // started it (asynchronously) and waits on something else
    std::string text = absl::StrCat(who(hosts, r), ": ");
    if (in_collective_of(*a, me.group))
      absl::StrAppend(&text, "it waits in ", describe_wait(*a));
    else if (count >= 0)
      absl::StrAppend(&text, "it is at collective ", count, " of '", g, "' and waits in ", describe_wait(*a));
    else
      absl::StrAppend(&text, "it waits in ", describe_wait(*a), " (its position on group '", g, "' is unknown)");
    missing.push_back(std::move(text));
    mark(listed, r);
  }
  const std::string head = absl::StrCat("collective ", me.seq, " (", me.op, " on group '", g, "')");
  if (!missing.empty())
    return absl::StrCat(head, " was never reached by ",
                        missing.size() == 1 ? "" : absl::StrCat(missing.size(), " ranks: "),
                        join_capped(missing, "; "));
  if (!elsewhere.empty())
    return absl::StrCat("every rank of group '", g, "' reached collective ", me.seq, ", but ",
                        join_capped(elsewhere, "; "), " (this rank: ", me.op,
                        "): the ranks called the collectives in another order");
  std::string text = absl::StrCat("every rank of group '", g, "' is in ", head, " now");
  if (latest)
    absl::StrAppend(&text, ", the shortest wait being ", seconds(latest->waited_s), " s by ",
                    who(hosts, latest->world_rank),
                    ": it arrived late, or the operation itself does not complete (MPI or network failure)");
  return text;
}

std::string point_to_point_report(const Position& me, const std::vector<Position>& answers,
                                  const std::vector<std::string>& hosts, std::vector<bool>& listed) {
  const int peer = me.peer_world_rank;
  std::string text = absl::StrCat(me.op, me.op == "recv" ? " from " : me.op == "send" ? " to " : " with ",
                                  who(hosts, peer), " with tag ", me.tag, " on group '", me.group.name,
                                  "' was never matched: ");
  if (const Position* a = answer_of(answers, peer))
    absl::StrAppend(&text, "it waits in ", describe_wait(*a));
  else
    absl::StrAppend(&text, kSilent);
  mark(listed, peer);
  return text;
}

}  // namespace

std::string encode_position(const Position& p) {
  std::string s = absl::StrCat("P\t", p.world_rank, "\t", p.group_rank, "\t", clean(p.op), "\t", p.seq, "\t",
                               p.peer_world_rank, "\t", p.tag, "\t", seconds(p.waited_s), "\n");
  s += mark_line("G", p.group);
  for (const GroupMark& g : p.groups) s += mark_line("L", g);
  return s;
}

std::optional<Position> decode_position(const std::string& text) {
  Position p;
  bool have_head = false, have_group = false;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<std::string> f = absl::StrSplit(line, '\t');
    if (f[0] == "P" && f.size() == 8 && !have_head) {
      if (!absl::SimpleAtoi(f[1], &p.world_rank) || !absl::SimpleAtoi(f[2], &p.group_rank) ||
          !absl::SimpleAtoi(f[4], &p.seq) || !absl::SimpleAtoi(f[5], &p.peer_world_rank) ||
          !absl::SimpleAtoi(f[6], &p.tag) || !absl::SimpleAtod(f[7], &p.waited_s))
        return std::nullopt;
      p.op = f[3];
      have_head = true;
    } else if (f[0] == "G" && !have_group) {
      if (!parse_mark(f, p.group)) return std::nullopt;
      have_group = true;
    } else if (f[0] == "L") {
      GroupMark g;
      if (!parse_mark(f, g)) return std::nullopt;
      p.groups.push_back(std::move(g));
    } else {
      return std::nullopt;
    }
  }
  if (!have_head || !have_group) return std::nullopt;
  return p;
}

std::string describe_wait(const Position& p) {
  if (!p.point_to_point())
    return absl::StrCat(p.op, " (collective ", p.seq, " on group '", p.group.name, "', ", seconds(p.waited_s),
                        " s)");
  return absl::StrCat(p.op, p.op == "recv" ? " from" : p.op == "send" ? " to" : " with", " world rank ",
                      p.peer_world_rank, " (group '", p.group.name, "', tag ", p.tag, ", ", seconds(p.waited_s),
                      " s)");
}

std::string missing_report(const Position& me, const std::vector<int>& members, const std::vector<Position>& answers,
                           const std::vector<std::string>& hosts, int world_size) {
  if (members.size() < 2) return "";
  std::vector<bool> listed(size_t(std::max(world_size, 0)), false);
  std::string text = me.point_to_point() ? point_to_point_report(me, answers, hosts, listed)
                                         : collective_report(me, members, answers, hosts, listed);
  std::vector<std::string> silent;
  for (int r = 0; r < world_size; ++r)
    if (r != me.world_rank && !listed[size_t(r)] && !answer_of(answers, r))
      silent.push_back(absl::StrCat(r, " (host ", host_of(hosts, r), ")"));
  if (!silent.empty()) absl::StrAppend(&text, "; other world ranks that did not answer: ", join_capped(silent, ", "));
  return text;
}

}  // namespace moe::comm
