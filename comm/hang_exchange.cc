#include "comm/hang_exchange.h"

#include <mpi.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <list>
#include <mutex>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace moe::comm {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kQueryTag = 1;   // "I timed out; here is where I am": answer me
constexpr int kAnswerTag = 2;  // a reply to one query, naming its id
constexpr int kHostLen = 64;   // Linux HOST_NAME_MAX

std::string local_host() {
  char host[kHostLen + 1] = "?";
  gethostname(host, kHostLen);
  host[kHostLen] = '\0';
  return host;
}

// The latest position heard from one rank.
struct Heard {
  bool valid = false;
  bool query = false;       // sent as its own query (it timed out too)
  int64_t answers = -1;     // the query id an answer replies to
  Clock::time_point at;     // when it arrived
  Position pos;
};

struct Outgoing {
  std::string text;  // MPI reads it until the send completes
  MPI_Request req = MPI_REQUEST_NULL;
};

struct Channel {
  MPI_Comm comm = MPI_COMM_NULL;
  int rank = 0, size = 1;
  std::vector<std::string> hosts{local_host()};
  std::vector<Heard> heard;
  int64_t query_id = 0;     // this rank's latest query
  bool collecting = false;  // between sending a query and the end of its grace period
  std::list<Outgoing> out;  // list: buffers must not move
};

Channel& channel() {
  static Channel c;
  return c;
}

std::mutex g_groups_mu;
std::vector<const Communicator*>& groups() {
  static std::vector<const Communicator*> g;
  return g;
}

void post(Channel& ch, int dest, int tag, std::string text) {
  Outgoing& o = ch.out.emplace_back();
  o.text = std::move(text);
  // A failed send (the peer is dead) just means no answer from it.
  if (MPI_Isend(o.text.data(), int(o.text.size()), MPI_CHAR, dest, tag, ch.comm, &o.req) != MPI_SUCCESS)
    ch.out.pop_back();
}

void reap(Channel& ch) {
  for (auto it = ch.out.begin(); it != ch.out.end();) {
    int flag = 0;
    if (MPI_Test(&it->req, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS || flag)
      it = ch.out.erase(it);
    else
      ++it;
  }
}

std::string message(int64_t id, const Position& p) { return absl::StrCat(id, "\n", encode_position(p)); }

// Receives everything that has arrived. With `me`, queries are answered.
void drain(Channel& ch, const std::function<Position()>* me) {
  std::optional<std::string> mine;
  for (;;) {
    int flag = 0;
    MPI_Message msg;
    MPI_Status st;
    if (MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, ch.comm, &flag, &msg, &st) != MPI_SUCCESS || !flag) break;
    int n = 0;
    MPI_Get_count(&st, MPI_CHAR, &n);
    std::string text(size_t(std::max(n, 0)), '\0');
    if (MPI_Mrecv(text.data(), n, MPI_CHAR, &msg, MPI_STATUS_IGNORE) != MPI_SUCCESS) continue;
    const int src = st.MPI_SOURCE;
    const size_t eol = text.find('\n');
    int64_t id = -1;
    if (src < 0 || src >= ch.size || eol == std::string::npos || !absl::SimpleAtoi(text.substr(0, eol), &id))
      continue;
    std::optional<Position> pos = decode_position(text.substr(eol + 1));
    if (!pos) continue;
    pos->world_rank = src;
    const bool query = st.MPI_TAG == kQueryTag;
    if (!query && !(ch.collecting && id == ch.query_id)) continue;  // a late answer to an older query
    ch.heard[size_t(src)] = Heard{true, query, query ? -1 : id, Clock::now(), std::move(*pos)};
    if (query && me) {
      if (!mine) mine = encode_position((*me)());
      post(ch, src, kAnswerTag, absl::StrCat(id, "\n", *mine));
    }
  }
  reap(ch);
}

}  // namespace

void init_hang_channel() {
  Channel& ch = channel();
  if (ch.comm != MPI_COMM_NULL) return;
  MPI_Comm dup = MPI_COMM_NULL;
  if (MPI_Comm_dup(MPI_COMM_WORLD, &dup) != MPI_SUCCESS) return;  // no reports, the watchdog still aborts
  MPI_Comm_set_errhandler(dup, MPI_ERRORS_RETURN);
  MPI_Comm_rank(dup, &ch.rank);
  MPI_Comm_size(dup, &ch.size);
  char host[kHostLen] = {};
  const std::string mine = local_host();
  mine.copy(host, kHostLen - 1);
  std::vector<char> all(size_t(ch.size) * kHostLen);
  if (MPI_Allgather(host, kHostLen, MPI_CHAR, all.data(), kHostLen, MPI_CHAR, dup) != MPI_SUCCESS) {
    MPI_Comm_free(&dup);
    return;
  }
  ch.hosts.assign(size_t(ch.size), "");
  for (int r = 0; r < ch.size; ++r) {
    const char* h = all.data() + size_t(r) * kHostLen;
    ch.hosts[size_t(r)].assign(h, strnlen(h, kHostLen));
  }
  ch.heard.assign(size_t(ch.size), Heard{});
  ch.comm = dup;
}

const std::vector<std::string>& world_hosts() { return channel().hosts; }

void track_group(const Communicator& c) {
  std::lock_guard<std::mutex> lock(g_groups_mu);
  groups().push_back(&c);
}

void untrack_group(const Communicator& c) {
  std::lock_guard<std::mutex> lock(g_groups_mu);
  auto& g = groups();
  g.erase(std::remove(g.begin(), g.end(), &c), g.end());
}

GroupMark group_mark(const Communicator& c) {
  return GroupMark{c.name(), c.size(), c.world_rank_of(0), c.collectives_started()};
}

std::vector<GroupMark> live_groups() {
  std::lock_guard<std::mutex> lock(g_groups_mu);
  std::vector<GroupMark> marks;
  for (const Communicator* c : groups()) marks.push_back(group_mark(*c));
  return marks;
}

void serve_hang_queries(const std::function<Position()>& me) {
  Channel& ch = channel();
  if (ch.comm == MPI_COMM_NULL) return;
  drain(ch, &me);
}

std::vector<Position> gather_positions(const Position& me, Clock::time_point since, double grace_s) {
  Channel& ch = channel();
  if (ch.comm == MPI_COMM_NULL || ch.size < 2) return {};
  const int64_t id = ++ch.query_id;
  ch.collecting = true;
  const std::string text = message(id, me);
  for (int p = 0; p < ch.size; ++p)
    if (p != ch.rank) post(ch, p, kQueryTag, text);
  // Our own query already tells the peers where we are, so queries that
  // arrive now need no answer.
  auto fresh = [&](const Heard& h) { return h.valid && (h.query ? h.at >= since : h.answers == id); };
  const Clock::time_point deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                        std::chrono::duration<double>(grace_s));
  for (;;) {
    drain(ch, nullptr);
    int missing = 0;
    for (int p = 0; p < ch.size; ++p)
      if (p != ch.rank && !fresh(ch.heard[size_t(p)])) ++missing;
    if (missing == 0 || Clock::now() >= deadline) break;
    timespec ts{0, 1'000'000};  // 1 ms: the answers need no tight polling
    nanosleep(&ts, nullptr);
  }
  ch.collecting = false;
  std::vector<Position> got;
  for (int p = 0; p < ch.size; ++p)
    if (p != ch.rank && fresh(ch.heard[size_t(p)])) got.push_back(ch.heard[size_t(p)].pos);
  return got;
}

}  // namespace moe::comm
