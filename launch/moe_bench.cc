// moe-bench: micro-benchmarks. Usage: moe-bench <subcommand> [flags]
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "launch/bench.h"

namespace {

const char* kUsage =
    "usage: moe-bench <subcommand> [flags]\n"
    "subcommands:\n"
    "  ops   CPU op throughput (sgemm, softmax, rms_norm, add) against direct\n"
    "        OpenBLAS sgemm / memcpy bandwidth in the same run\n"
    "        --threads N   CPU threads (default: all cores)\n"
    "        --repeats N   timed samples per measurement; the median is shown (default 7)\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string sub = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  try {
    if (sub == "ops") return moe::bench::run_ops(args);
    std::fprintf(stderr, "moe-bench: unknown subcommand '%s'\n%s", sub.c_str(), kUsage);
    return 2;
  } catch (const moe::bench::BenchUsageError& e) {
    std::fprintf(stderr, "moe-bench %s: %s\n%s", sub.c_str(), e.what(), kUsage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "moe-bench %s: error: %s\n", sub.c_str(), e.what());
    return 1;
  }
}
