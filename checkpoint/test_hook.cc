#include "checkpoint/test_hook.h"

#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace moe::checkpoint {
namespace {

struct Injection {
  int err = 0;
  std::string target;
  int64_t first = -1;  // -1: every step
  bool later = false;  // also steps after `first`
  int rank = -1;       // -1: every rank
};

int errno_named(const std::string& s) {
  if (s == "ENOSPC") return ENOSPC;
  if (s == "EIO") return EIO;
  if (s == "EDQUOT") return EDQUOT;
  if (s == "EACCES") return EACCES;
  if (s == "EROFS") return EROFS;
  return 0;
}

bool parse(const std::string& spec, Injection& out) {
  const std::vector<std::string> f = absl::StrSplit(spec, ':');
  if (f.size() < 3 || f.size() > 4) return false;
  out.err = errno_named(f[0]);
  out.target = f[1];
  if (out.err == 0 || (out.target != "slice" && out.target != "metadata" && out.target != "latest")) return false;
  if (out.target == "slice" && out.err != ENOSPC && out.err != EACCES) return false;
  std::string steps = f[2];
  if (steps != "*") {
    if (!steps.empty() && steps.back() == '+') {
      out.later = true;
      steps.pop_back();
    }
    if (!absl::SimpleAtoi(steps, &out.first) || out.first < 0) return false;
  }
  if (f.size() == 4 && f[3] != "*" && (!absl::SimpleAtoi(f[3], &out.rank) || out.rank < 0)) return false;
  return true;
}

}  // namespace

int injected_write_error(const char* target, int64_t step, int rank) {
  const char* v = std::getenv("MOE_CKPT_INJECT_WRITE_ERROR");
  if (!v || !*v) return 0;
  Injection in;
  if (!parse(v, in)) {
    static bool told = false;
    if (!told)
      std::fprintf(stderr,
                   "moe: ignoring MOE_CKPT_INJECT_WRITE_ERROR='%s' (want ERR:TARGET:STEPS[:RANK], e.g. "
                   "ENOSPC:slice:4+:1; slice takes ENOSPC or EACCES)\n",
                   v);
    told = true;
    return 0;
  }
  if (in.target != target || (in.rank >= 0 && in.rank != rank)) return 0;
  if (in.first >= 0 && (in.later ? step < in.first : step != in.first)) return 0;
  std::fprintf(stderr, "[rank %d] MOE_CKPT_INJECT_WRITE_ERROR=%s: injecting %s into the %s write of step %lld\n",
               rank, v, std::strerror(in.err), target, static_cast<long long>(step));
  return in.err;
}

std::string test_nan_tensor(int64_t step) {
  const char* v = std::getenv("MOE_CKPT_TEST_NAN_TENSOR");
  if (!v || !*v) return "";
  const std::string spec = v;
  const size_t colon = spec.rfind(':');
  int64_t at = -1;
  if (colon == std::string::npos || colon == 0 || !absl::SimpleAtoi(spec.substr(colon + 1), &at)) {
    std::fprintf(stderr, "moe: ignoring MOE_CKPT_TEST_NAN_TENSOR='%s' (want NAME:STEP)\n", v);
    return "";
  }
  return at == step ? spec.substr(0, colon) : "";
}

}  // namespace moe::checkpoint
