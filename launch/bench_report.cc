#include "launch/bench_report.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "launch/bench.h"

namespace moe::bench {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

PairTiming measure_pair(const std::function<void()>& ours, const std::function<void()>& ref, int repeats,
                        const MeasureOptions& opt) {
  auto run = [&opt](const std::function<void()>& f, int iters) {
    if (opt.settle_s > 0) std::this_thread::sleep_for(std::chrono::duration<double>(opt.settle_s));
    if (opt.fence) opt.fence();
    const double t0 = now_s();
    for (int i = 0; i < iters; ++i) f();
    if (opt.fence) opt.fence();
    return (now_s() - t0) / iters;
  };
  run(ours, 1);
  run(ref, 1);
  const double probe = std::max(run(ours, 1), run(ref, 1));
  const int iters = std::clamp(int(opt.sample_s / std::max(probe, 1e-9)), 1, std::max(opt.max_iters, 1));
  std::vector<double> to, tr;
  for (int r = 0; r < repeats; ++r) {
    to.push_back(run(ours, iters));
    tr.push_back(run(ref, iters));
  }
  return {median(to), median(tr)};
}

Flags parse_flags(const std::vector<std::string>& args, const std::vector<std::string>& known) {
  Flags f;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string name = args[i], value;
    const size_t eq = name.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (name.rfind("--", 0) != 0 || std::find(known.begin(), known.end(), name.substr(2)) == known.end())
      throw BenchUsageError("unknown flag '" + args[i] + "'");
    if (!inline_value) {
      if (i + 1 >= args.size()) throw BenchUsageError(name + " needs a value");
      value = args[++i];
    }
    f[name.substr(2)] = value;
  }
  return f;
}

int64_t int_flag(const Flags& f, const std::string& name, int64_t fallback, int64_t lo, int64_t hi) {
  const auto it = f.find(name);
  if (it == f.end()) return fallback;
  size_t used = 0;
  long long n = 0;
  try {
    n = std::stoll(it->second, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != it->second.size() || n < lo || n > hi)
    throw BenchUsageError("--" + name + " needs an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                          "], got '" + it->second + "'");
  return n;
}

std::string str_flag(const Flags& f, const std::string& name, const std::string& fallback) {
  const auto it = f.find(name);
  return it == f.end() ? fallback : it->second;
}

void append_csv(const std::string& path, const std::vector<std::string>& header, const std::vector<std::string>& row) {
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + v[i];
    return s;
  };
  std::string first;
  {
    std::ifstream in(path);
    if (in) std::getline(in, first);
  }
  if (!first.empty() && first != join(header))
    throw std::runtime_error(path + " has another header (delete it or pick another --csv file):\n  " + first);
  std::ofstream out(path, std::ios::app);
  if (first.empty()) out << join(header) << '\n';
  out << join(row) << '\n';
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.6g", v);
  return b;
}

}  // namespace moe::bench
