// moe-bench alltoall: our all-to-all path against a raw MPI_Alltoallv of
// exactly the same bytes, in the same processes, samples interleaved.
//   mpirun -np 4 moe-bench alltoall --rows 4096 --dim 128 [--repeats 30] [--imbalanced] [--skew-us 0]
// Each rank sends --rows rows of --dim f32 values in total, split over the
// peers (itself included) evenly, or with --imbalanced by a fixed random
// matrix of per-pair counts (hot and cold receivers, as routing makes them).
// --skew-us S makes rank 0 arrive S us after the others (as a rank still
// computing does in a training step), which exercises the wait loop.
// Variants, each sample preceded by a barrier and timed as the slowest
// rank's time:
//   ours         comm::all_to_all (the differentiable wrapper the EP
//                dispatcher calls) through the Communicator;
//   ours+counts  the dispatcher's count exchange (all_to_all_single of the
//                per-peer i64 counts) and then the rows, as one EP dispatch;
//   raw          MPI_Alltoallv on preallocated buffers;
//   raw_nb       MPI_Ialltoallv + MPI_Wait (what our path calls, without
//                our wrapper): tells the algorithm's share from our overhead.
// The ratio is ours' throughput over raw's (= raw time / our time).
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "comm/collectives.h"
#include "comm/mpi_communicator.h"
#include "core/ops.h"
#include "launch/bench.h"
#include "launch/bench_report.h"

namespace moe::bench {
namespace {

// rows[s][d]: rows rank s sends to rank d; the same matrix on every rank.
std::vector<std::vector<int64_t>> count_matrix(int P, int64_t rows, bool imbalanced) {
  std::vector<std::vector<int64_t>> m(size_t(P), std::vector<int64_t>(size_t(P), 0));
  std::mt19937_64 gen(12345);
  std::uniform_real_distribution<double> hot(0.25, 1.75), noise(0.5, 1.5);
  std::vector<double> heat(static_cast<size_t>(P));
  for (double& h : heat) h = hot(gen);
  for (int s = 0; s < P; ++s) {
    std::vector<double> w(size_t(P), 1.0);
    if (imbalanced)
      for (int d = 0; d < P; ++d) w[size_t(d)] = heat[size_t(d)] * noise(gen);
    const double total = std::accumulate(w.begin(), w.end(), 0.0);
    int64_t given = 0;
    for (int d = 0; d < P; ++d) given += m[size_t(s)][size_t(d)] = int64_t(double(rows) * w[size_t(d)] / total);
    m[size_t(s)][0] += rows - given;
  }
  return m;
}

struct MpiCounts {
  std::vector<int> send, sdispl, recv, rdispl;
};
MpiCounts mpi_counts(const std::vector<int64_t>& send_rows, const std::vector<int64_t>& recv_rows, int64_t dim) {
  MpiCounts c;
  int64_t so = 0, ro = 0;
  for (size_t p = 0; p < send_rows.size(); ++p) {
    c.send.push_back(int(send_rows[p] * dim));
    c.sdispl.push_back(int(so));
    so += send_rows[p] * dim;
    c.recv.push_back(int(recv_rows[p] * dim));
    c.rdispl.push_back(int(ro));
    ro += recv_rows[p] * dim;
  }
  return c;
}

}  // namespace

int run_alltoall(const std::vector<std::string>& args) {
  std::vector<std::string> rest;
  bool imbalanced = false;
  for (const std::string& a : args) {
    if (a == "--imbalanced")
      imbalanced = true;
    else
      rest.push_back(a);
  }
  const Flags f = parse_flags(rest, {"rows", "dim", "repeats", "csv", "skew-us"});
  const int64_t rows = int_flag(f, "rows", 4096, 1, int64_t(1) << 24);
  const int64_t dim = int_flag(f, "dim", 128, 1, 1 << 16);
  const int repeats = int(int_flag(f, "repeats", 30, 1, 100000));
  const std::string csv = str_flag(f, "csv", "");
  const double skew_s = double(int_flag(f, "skew-us", 0, 0, 10'000'000)) * 1e-6;
  if (rows * dim >= (int64_t(1) << 31)) throw BenchUsageError("--rows x --dim must stay below 2^31 elements");

  std::unique_ptr<comm::Communicator> world = comm::world_communicator(0);
  if (!comm::mpi_active()) {
    std::fprintf(stderr, "moe-bench alltoall: needs MPI (run it under mpirun, or set MOE_MPI=1 for one rank)\n");
    return 2;
  }
  const int P = world->size(), me = world->rank();
  const auto m = count_matrix(P, rows, imbalanced);
  std::vector<int64_t> send_rows(static_cast<size_t>(P)), recv_rows(static_cast<size_t>(P));
  for (int p = 0; p < P; ++p) {
    send_rows[size_t(p)] = m[size_t(me)][size_t(p)];
    recv_rows[size_t(p)] = m[size_t(p)][size_t(me)];
  }
  const int64_t recv_total = std::accumulate(recv_rows.begin(), recv_rows.end(), int64_t(0));
  const MpiCounts mc = mpi_counts(send_rows, recv_rows, dim);

  const Tensor x = randn({rows, dim}, 7, uint64_t(me));
  std::vector<float> raw_out(size_t(recv_total * dim));
  Tensor counts = empty({P}, DType::i64);
  const std::vector<int64_t> ones(size_t(P), 1);

  auto ours = [&] { return comm::all_to_all_autograd(*world, x, send_rows, recv_rows); };
  auto ours_counts = [&] {
    std::copy(send_rows.begin(), send_rows.end(), counts.data<int64_t>());
    const Tensor rc = world->all_to_all_single(counts, ones, ones);
    return comm::all_to_all_autograd(*world, x, send_rows, recv_rows);
  };
  auto raw = [&] {
    MPI_Alltoallv(x.data<float>(), mc.send.data(), mc.sdispl.data(), MPI_FLOAT, raw_out.data(), mc.recv.data(),
                  mc.rdispl.data(), MPI_FLOAT, MPI_COMM_WORLD);
  };
  auto raw_nb = [&] {
    MPI_Request req;
    MPI_Ialltoallv(x.data<float>(), mc.send.data(), mc.sdispl.data(), MPI_FLOAT, raw_out.data(), mc.recv.data(),
                   mc.rdispl.data(), MPI_FLOAT, MPI_COMM_WORLD, &req);
    MPI_Wait(&req, MPI_STATUS_IGNORE);
  };

  // Same bytes, same result.
  const Tensor check = ours();
  raw();
  const bool same = check.numel() == recv_total * dim &&
                    std::memcmp(check.data<float>(), raw_out.data(), raw_out.size() * sizeof(float)) == 0;
  int all_same = same;
  MPI_Allreduce(MPI_IN_PLACE, &all_same, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (!all_same) {
    if (me == 0) std::fprintf(stderr, "moe-bench alltoall: our result differs from MPI_Alltoallv's\n");
    return 1;
  }

  // Samples: [variant][i], each the slowest rank's time; the variants
  // rotate their order from one round to the next.
  constexpr int V = 4;
  const char* names[V] = {"ours", "ours+counts", "raw", "raw_nb"};
  std::vector<double> t(size_t(V * repeats), 0.0);
  const int warm = 3;
  for (int i = -warm; i < repeats; ++i) {
    for (int k = 0; k < V; ++k) {
      const int v = (k + std::max(i, 0)) % V;
      MPI_Barrier(MPI_COMM_WORLD);
      const double t0 = now_s();
      if (me == 0)
        while (now_s() - t0 < skew_s) {
        }
      if (v == 0) ours();
      if (v == 1) ours_counts();
      if (v == 2) raw();
      if (v == 3) raw_nb();
      if (i >= 0) t[size_t(v * repeats + i)] = now_s() - t0;
    }
  }
  MPI_Allreduce(MPI_IN_PLACE, t.data(), int(t.size()), MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  if (me != 0) return 0;

  double med[V];
  for (int v = 0; v < V; ++v) med[v] = median(std::vector<double>(t.begin() + v * repeats, t.begin() + (v + 1) * repeats));
  // Bytes every rank puts into the exchange (its rows to itself included).
  const double bytes_per_rank = double(rows * dim) * sizeof(float);
  int64_t max_recv = 0;
  for (int p = 0; p < P; ++p) {
    int64_t r = 0;
    for (int s = 0; s < P; ++s) r += m[size_t(s)][size_t(p)];
    max_recv = std::max(max_recv, r);
  }
  const double recv_imbalance = double(max_recv) / double(rows);
  const char* mode = imbalanced ? "imbalanced" : "balanced";
  std::printf("moe-bench alltoall: %d ranks, %s, %lld rows x %lld f32 per rank (%.2f MB), receive imbalance %.2f, "
              "rank 0 late by %.0f us, median of %d\n",
              P, mode, static_cast<long long>(rows), static_cast<long long>(dim), bytes_per_rank / 1e6,
              recv_imbalance, skew_s * 1e6, repeats);
  for (int v = 0; v < V; ++v)
    std::printf("  %-12s %9.1f us  %7.2f GB/s per rank  %5.2fx raw\n", names[v], med[v] * 1e6,
                bytes_per_rank / med[v] / 1e9, med[2] / med[v]);
  if (skew_s > 0)  // the part after the late rank arrives: what the wait loop adds
    std::printf("  after the late rank: ours %.1f us, ours+counts %.1f us, raw %.1f us, raw_nb %.1f us\n",
                (med[0] - skew_s) * 1e6, (med[1] - skew_s) * 1e6, (med[2] - skew_s) * 1e6, (med[3] - skew_s) * 1e6);
  std::printf("  ratio (ours / raw MPI_Alltoallv throughput): %.3f %s\n", med[2] / med[0],
              med[2] / med[0] >= 0.8 ? "(>= 0.8)" : "(BELOW the 0.8 target)");
  if (!csv.empty())
    append_csv(csv,
               {"ranks", "mode", "rows", "dim", "bytes_per_rank", "recv_imbalance", "skew_us", "repeats", "ours_s",
                "ours_counts_s", "raw_s", "raw_nb_s", "ratio", "ratio_with_counts", "raw_nb_ratio"},
               {std::to_string(P), mode, std::to_string(rows), std::to_string(dim), fmt(bytes_per_rank),
                fmt(recv_imbalance), fmt(skew_s * 1e6), std::to_string(repeats), fmt(med[0]), fmt(med[1]), fmt(med[2]), fmt(med[3]),
                fmt(med[2] / med[0]), fmt(med[2] / med[1]), fmt(med[2] / med[3])});
  return 0;
}

}  // namespace moe::bench
