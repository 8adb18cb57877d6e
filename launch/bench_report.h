#pragma once
// Helpers shared by moe-bench's multi-rank subcommands (step, alltoall):
// flag parsing, timing, and CSV rows appended to a results file.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace moe::bench {

double now_s();  // steady clock, seconds
double median(std::vector<double> v);

// Median seconds per call of `ours` and of `ref`, measured back to back:
// both warmed up, then each sample runs a fixed number of calls (enough for
// about sample_s) and the two alternate sample by sample, so drift in clocks
// or load hits both alike. `fence` (a GPU's synchronisation) runs before and
// after each sample, so queued work is timed, not its queueing; settle_s
// pauses before each sample (BLAS worker threads spin for ~0.1 s after a
// call, which on 2 cores would steal one from the other side's sample).
struct PairTiming {
  double ours = 0, ref = 0;
};
struct MeasureOptions {
  double sample_s = 0.05;
  int max_iters = 1000;
  double settle_s = 0;
  std::function<void()> fence;
};
PairTiming measure_pair(const std::function<void()>& ours, const std::function<void()>& ref, int repeats,
                        const MeasureOptions& opt = {});

// "--name value" / "--name=value" for the names in `known`; anything else
// (or a missing value) throws BenchUsageError.
using Flags = std::map<std::string, std::string>;
Flags parse_flags(const std::vector<std::string>& args, const std::vector<std::string>& known);
// The flag's value as an integer in [lo, hi], or `fallback` when absent.
int64_t int_flag(const Flags& f, const std::string& name, int64_t fallback, int64_t lo, int64_t hi);
std::string str_flag(const Flags& f, const std::string& name, const std::string& fallback);

// Appends `row` to the CSV file at `path`, writing `header` first when the
// file is new or empty. A file whose header differs is an error (rows of
// another format must not be mixed in).
void append_csv(const std::string& path, const std::vector<std::string>& header, const std::vector<std::string>& row);
std::string fmt(double v);  // "%.6g"

}  // namespace moe::bench
