#pragma once
// Retention after a commit: keep the newest keep_last step directories (by
// step number) and every step that is a multiple of keep_every; never the
// one just committed (`keep_dir`), which may be older than others when a run
// resumed from an earlier step.
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "checkpoint/checkpoint.h"

namespace moe::checkpoint {

// The step directories it removed.
absl::StatusOr<std::vector<std::string>> apply_retention(const std::string& root, const SaveOptions& options,
                                                         const std::string& keep_dir);
// The step number of a directory named step_<digits>, or -1.
int64_t step_of_dir(const std::string& dir);

}  // namespace moe::checkpoint
