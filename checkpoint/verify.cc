// verify_checkpoint and the choice of a checkpoint to resume from.
#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/exchange.h"
#include "checkpoint/finite.h"
#include "checkpoint/fs.h"
#include "checkpoint/region.h"
#include "checkpoint/retention.h"
#include "checkpoint/slice_file.h"

namespace moe::checkpoint {
namespace {

constexpr size_t kMaxProblems = 20;

// The first few tensor names held by `file`, for messages.
std::string tensors_in(const CheckpointMeta& meta, const std::string& file) {
  std::vector<std::string> names;
  size_t total = 0;
  for (const TensorRecord& t : meta.tensors())
    for (const SliceRecord& s : t.slices())
      if (s.file() == file && total++ < 5) names.push_back(t.name());
  std::string out = absl::StrJoin(names, ", ");
  if (total > names.size()) absl::StrAppend(&out, " and ", total - names.size(), " more");
  return out;
}

}  // namespace

absl::Status verify_checkpoint(const std::string& step_dir, bool checksums) {
  absl::StatusOr<CheckpointMeta> meta = read_metadata(step_dir);
  if (!meta.ok()) return meta.status();
  std::vector<std::string> problems;
  std::set<std::string> bad_files, known_files;
  for (const FileRecord& f : meta->files()) {
    known_files.insert(f.name());
    const std::string path = step_dir + "/" + f.name();
    const int64_t size = fs::file_size(path);
    if (size == f.bytes()) continue;
    bad_files.insert(f.name());
    problems.push_back(size < 0 ? absl::StrCat(path, ": file missing (holds tensors ", tensors_in(*meta, f.name()), ")")
                                : absl::StrCat(path, ": ", size, " bytes, the checkpoint recorded ", f.bytes(),
                                               size < f.bytes() ? " (truncated)" : "", " (holds tensors ",
                                               tensors_in(*meta, f.name()), ")"));
  }
  for (const TensorRecord& t : meta->tensors()) {
    if (problems.size() >= kMaxProblems) break;
    if (absl::Status st = check_tiling(t); !st.ok()) problems.emplace_back(st.message());
    for (const SliceRecord& s : t.slices()) {
      if (bad_files.count(s.file())) continue;
      if (!known_files.count(s.file())) {
        problems.push_back(absl::StrCat(step_dir, "/", s.file(), ": not in the file list (tensor ", t.name(), ")"));
        continue;
      }
      absl::StatusOr<Tensor> r = read_slice(step_dir, t, s, recorded_file_bytes(*meta, s.file()), checksums);
      if (!r.ok()) {
        problems.emplace_back(r.status().message());
        continue;
      }
      // A checkpoint of NaN weights loads and checksums fine, and is useless.
      if (const NonFinite n = find_nonfinite(*r); n.count > 0)
        problems.push_back(absl::StrCat(step_dir, "/", s.file(), ":", s.dataset(), " (tensor ", t.name(), ", slice ",
                                        s.index(), " of ", s.count(), "): ", describe(n)));
    }
  }
  if (problems.empty()) return absl::OkStatus();
  if (problems.size() > kMaxProblems) problems.resize(kMaxProblems);
  // Every problem names its file (under step_dir) and tensor already.
  if (problems.size() == 1) return absl::DataLossError(problems[0]);
  return absl::DataLossError(
      absl::StrCat(step_dir, ": ", problems.size(), " problems:\n  ", absl::StrJoin(problems, "\n  ")));
}

absl::StatusOr<Loadable> find_loadable(const std::string& root, const std::string& which, bool checksums) {
  Loadable out;
  absl::StatusOr<std::string> chosen = resolve(root, which);
  std::string search_root = root;
  int64_t below = INT64_MAX;  // fall back to steps older than this
  if (chosen.ok()) {
    absl::Status st = verify_checkpoint(*chosen, checksums);
    if (st.ok()) {
      out.step_dir = *chosen;
      return out;
    }
    out.rejected.emplace_back(st.message());
    search_root = fs::parent_dir(*chosen);
    const int64_t step = step_of_dir(*chosen);
    below = step >= 0 ? step : INT64_MAX;
  } else if (which.empty() || which == "latest") {
    // `latest` unreadable or pointing nowhere: try every committed step.
    out.rejected.emplace_back(chosen.status().message());
  } else {
    return chosen.status();  // a named step that does not exist: the user's typo, not a fallback case
  }
  std::vector<std::string> steps = list_steps(search_root);
  std::reverse(steps.begin(), steps.end());
  for (const std::string& dir : steps) {
    if (step_of_dir(dir) >= below) continue;
    absl::Status st = verify_checkpoint(dir, checksums);
    if (st.ok()) {
      out.step_dir = dir;
      return out;
    }
    out.rejected.emplace_back(st.message());
  }
  return absl::DataLossError(absl::StrCat("no loadable checkpoint under ", search_root, ":\n",
                                          absl::StrJoin(out.rejected, "\n")));
}

absl::StatusOr<Loadable> find_loadable(comm::Communicator& world, const std::string& root, const std::string& which,
                                       bool checksums) {
  LoadChoice mine;
  if (world.rank() == 0) {
    absl::StatusOr<Loadable> l = find_loadable(root, which, checksums);
    if (!l.ok()) {
      mine.set_error(encode_status(l.status()));
    } else {
      mine.set_step_dir(l->step_dir);
      for (const std::string& r : l->rejected) mine.add_rejected(r);
    }
  }
  LoadChoice chosen;
  if (!chosen.ParseFromString(all_gather_strings(world, world.rank() == 0 ? mine.SerializeAsString() : "")[0]))
    return absl::InternalError("find_loadable: unreadable answer from rank 0");
  if (!chosen.error().empty()) return decode_status(chosen.error());
  return Loadable{chosen.step_dir(), {chosen.rejected().begin(), chosen.rejected().end()}};
}

}  // namespace moe::checkpoint
