// moe-train: the trainer's entry point. The model, data and optimizer arrive
// with the MoE issue; until then it validates its flags, reports the
// machine/back-end it would use and says what it will run.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "core/device.h"
#include "core/error.h"
#include "core/parallel.h"

ABSL_FLAG(std::string, config, "configs/tiny_moe.pbtxt", "model/training config (protobuf text)");
ABSL_FLAG(std::string, device, "cpu", "cpu or cuda[:N]");
ABSL_FLAG(int, threads, 0, "CPU threads (0 = all cores)");
ABSL_FLAG(std::vector<std::string>, set, {}, "config overrides, e.g. --set model.moe.top_k=4");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("moe-train --config FILE [--device cpu|cuda] [--set field=value ...]");
  absl::ParseCommandLine(argc, argv);
  try {
    const moe::Device device = moe::Device::parse(absl::GetFlag(FLAGS_device));
    if (absl::GetFlag(FLAGS_threads) > 0) moe::set_num_threads(absl::GetFlag(FLAGS_threads));
    std::printf("moe-train: device %s, %d CPU threads\n", device.str().c_str(), moe::num_threads());
    std::printf("moe-train: would train config %s", absl::GetFlag(FLAGS_config).c_str());
    for (const auto& s : absl::GetFlag(FLAGS_set)) std::printf(" --set %s", s.c_str());
    std::printf("\nmoe-train: the MoE model, data pipeline and optimizer are not built yet "
                "(tracked by the MoE issue); the tensor/autograd core is ready: ./scripts/test.sh\n");
    return 0;
  } catch (const moe::Error& e) {
    std::fprintf(stderr, "moe-train: error: %s\n", e.what());
    return 2;
  }
}
