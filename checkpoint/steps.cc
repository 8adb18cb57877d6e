// Naming and finding committed checkpoints under a root.
#include <algorithm>
#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/fs.h"
#include "checkpoint/meta_file.h"
#include "checkpoint/retention.h"

namespace moe::checkpoint {
namespace stdfs = std::filesystem;
namespace {

bool has_metadata(const std::string& dir) { return fs::file_size(dir + "/" + kMetadataFile) >= 0; }

// Digits of "step_123" / "123", or -1.
int64_t parse_step(std::string s) {
  if (s.rfind("step_", 0) == 0) s = s.substr(5);
  int64_t v = -1;
  if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      !absl::SimpleAtoi(s, &v))
    return -1;
  return v;
}

absl::StatusOr<std::string> step_in_root(const std::string& root, int64_t step) {
  const std::string dir = root + "/" + step_dir_name(step);
  if (has_metadata(dir)) return dir;
  // A crash while replacing this step left it aside (save.cc, commit).
  const std::string aside = root + "/.old_" + step_dir_name(step);
  if (has_metadata(aside)) return aside;
  std::vector<std::string> names;
  for (const std::string& d : list_steps(root)) names.push_back(stdfs::path(d).filename().string());
  return absl::NotFoundError(absl::StrCat("no committed checkpoint ", dir, " (committed under ", root, ": ",
                                          names.empty() ? "none" : absl::StrJoin(names, ", "), ")"));
}

}  // namespace

int64_t step_of_dir(const std::string& dir) {
  const std::string n = stdfs::path(dir).filename().string();
  return n.rfind("step_", 0) == 0 ? parse_step(n) : -1;
}

std::vector<std::string> list_steps(const std::string& root) {
  std::vector<std::pair<int64_t, std::string>> found;
  std::error_code ec;
  for (const auto& e : stdfs::directory_iterator(root, ec)) {
    const std::string dir = e.path().string();
    const int64_t step = step_of_dir(dir);
    if (step >= 0 && e.is_directory(ec) && has_metadata(dir)) found.emplace_back(step, dir);
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& [step, dir] : found) out.push_back(std::move(dir));
  return out;
}

absl::StatusOr<std::string> resolve(const std::string& root_in, const std::string& which) {
  const std::string root = root_in.empty() ? "." : root_in;
  if (which.empty() || which == "latest") {
    const std::string latest = root + "/latest";
    absl::StatusOr<std::string> name = fs::read_file(latest);
    if (!name.ok()) return absl::NotFoundError(absl::StrCat("no checkpoint under ", root, " (no ", latest, ")"));
    const int64_t step = parse_step(std::string(absl::StripAsciiWhitespace(*name)));
    if (step < 0)
      return absl::DataLossError(absl::StrCat(latest, ": not a step name: \"", absl::CHexEscape(*name), "\""));
    return step_in_root(root, step);
  }
  if (const int64_t step = parse_step(which); step >= 0 && !stdfs::is_directory(which)) return step_in_root(root, step);
  if (has_metadata(which)) return which;
  if (fs::file_size(which + "/latest") >= 0) return resolve(which, "latest");
  return absl::NotFoundError(
      absl::StrCat(which, ": neither a checkpoint step directory (no ", kMetadataFile, ") nor a root (no latest)"));
}

}  // namespace moe::checkpoint
