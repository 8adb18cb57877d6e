#pragma once
// Repeatable command-line flags. absl keeps only the last occurrence of a
// flag, and a std::vector<std::string> flag splits its value at commas
// (breaking list overrides such as --set optim.schedule.milestones=0.8,0.9),
// so launchers take such flags out of argv before absl parses the rest.
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace moe::launch {

// Removes every "--name=V", "--name V" (and the single-dash forms) before a
// bare "--" from argv, compacting argv and argc, and returns the values in
// order. "--name" as the last argument is an error.
absl::StatusOr<std::vector<std::string>> take_repeated_flag(std::string_view name, int& argc, char** argv);

// The usage line, and --help / --helpshort listing the flags of our tools'
// sources (absl's default looks for a file named after the program, which
// "moe-train" from moe_train.cc never matches).
void set_usage(const std::string& usage);

}  // namespace moe::launch
