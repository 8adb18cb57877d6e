// moe-ckpt: look at checkpoints without training.
//   moe-ckpt inspect DIR   step, layout, files, tensors (shape, dtype, slices, sizes, checksums)
//   moe-ckpt verify DIR    every file present with its size, every dataset, every checksum,
//                          every value finite (NaN/inf: the tensor and the count)
//   moe-ckpt list ROOT     the committed steps and where latest points
// DIR is a step directory, or a checkpoint root (then its latest). Exit 0
// when fine, 1 with a message naming the file and tensor otherwise.
#include <cstdio>
#include <string>

#include "checkpoint/checkpoint.h"

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: moe-ckpt inspect DIR | verify DIR | list ROOT\n"
               "  DIR: a checkpoint step directory, or a checkpoint root (its latest)\n");
  return 2;
}

int fail(const std::string& msg) {
  std::fprintf(stderr, "moe-ckpt: error: %s\n", msg.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return usage();
  const std::string cmd = argv[1], dir = argv[2];
  namespace ck = moe::checkpoint;
  if (cmd == "list") {
    for (const std::string& d : ck::list_steps(dir)) std::printf("%s\n", d.c_str());
    absl::StatusOr<std::string> latest = ck::resolve(dir, "latest");
    std::printf("latest: %s\n", latest.ok() ? latest->c_str() : std::string(latest.status().message()).c_str());
    return 0;
  }
  if (cmd != "inspect" && cmd != "verify") return usage();
  absl::StatusOr<std::string> step_dir = ck::resolve("", dir);
  if (!step_dir.ok()) return fail(std::string(step_dir.status().message()));
  if (cmd == "inspect") {
    absl::StatusOr<std::string> text = ck::inspect(*step_dir);
    if (!text.ok()) return fail(std::string(text.status().message()));
    std::fputs(text->c_str(), stdout);
    return 0;
  }
  if (absl::Status st = ck::verify_checkpoint(*step_dir); !st.ok()) return fail(std::string(st.message()));
  std::printf("%s: OK (every file, size and checksum; every value finite)\n", step_dir->c_str());
  return 0;
}
