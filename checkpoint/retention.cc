#include "checkpoint/retention.h"

#include <filesystem>

#include "absl/strings/str_cat.h"

namespace moe::checkpoint {

absl::StatusOr<std::vector<std::string>> apply_retention(const std::string& root, const SaveOptions& options,
                                                         const std::string& keep_dir) {
  std::vector<std::string> deleted;
  if (options.keep_last <= 0) return deleted;
  // Oldest first, up to the committed step: newer ones (left by a run that
  // resumed from an older checkpoint, e.g. after a corrupted one) are kept
  // and do not count, so keep_last good checkpoints up to this one remain.
  std::vector<std::string> steps = list_steps(root);
  const int64_t committed = step_of_dir(keep_dir);
  std::erase_if(steps, [&](const std::string& d) { return committed >= 0 && step_of_dir(d) > committed; });
  const std::filesystem::path keep = std::filesystem::path(keep_dir).filename();
  for (size_t i = 0; i + size_t(options.keep_last) < steps.size(); ++i) {
    const std::string& dir = steps[i];
    if (std::filesystem::path(dir).filename() == keep) continue;
    if (options.keep_every > 0 && step_of_dir(dir) % options.keep_every == 0) continue;
    // Renamed out of the step namespace first, so a crash mid-delete never
    // leaves a half-deleted directory that looks like a checkpoint.
    std::error_code ec;
    const std::string trash = root + "/.del_" + std::filesystem::path(dir).filename().string();
    std::filesystem::rename(dir, trash, ec);
    if (!ec) std::filesystem::remove_all(trash, ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot remove old checkpoint ", dir, ": ", ec.message()));
    deleted.push_back(dir);
  }
  return deleted;
}

}  // namespace moe::checkpoint
