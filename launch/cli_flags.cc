#include "launch/cli_flags.h"

#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace moe::launch {

absl::StatusOr<std::vector<std::string>> take_repeated_flag(std::string_view name, int& argc, char** argv) {
  const std::string two = absl::StrCat("--", std::string(name)), one = absl::StrCat("-", std::string(name));
  std::vector<std::string> values;
  int out = 1;
  int i = 1;
  for (; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--") break;  // the rest are positional arguments
    if (a == two || a == one) {
      if (i + 1 >= argc) return absl::InvalidArgumentError(absl::StrCat(two, " needs a value"));
      values.emplace_back(argv[++i]);
    } else if (a.starts_with(two + "=") || a.starts_with(one + "=")) {
      values.emplace_back(a.substr(a.find('=') + 1));
    } else {
      argv[out++] = argv[i];
    }
  }
  for (; i < argc; ++i) argv[out++] = argv[i];
  argc = out;
  argv[argc] = nullptr;  // as main() received it
  return values;
}

void set_usage(const std::string& usage) {
  absl::SetProgramUsageMessage(usage);
  absl::FlagsUsageConfig config;
  auto ours = [](absl::string_view file) {
    const size_t slash = file.find_last_of('/');
    const absl::string_view name = slash == absl::string_view::npos ? file : file.substr(slash + 1);
    return absl::StartsWith(name, "moe_") || name == "cli_flags.cc";
  };
  config.contains_helpshort_flags = ours;
  config.contains_help_flags = ours;
  absl::SetFlagsUsageConfig(config);
}

}  // namespace moe::launch
