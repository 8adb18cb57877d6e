// save_checkpoint: the collective write and the commit protocol.
//
// 1. rank 0 makes root/.tmp_step_N (removing leftovers of crashed saves);
//    all ranks agree before anyone writes.
// 2. each rank writes and fsyncs only its own file there.
// 3. all-gather of every rank's index (or its error): the status exchange.
// 4. rank 0 merges the indexes (checking one writer per slice), writes and
//    fsyncs metadata.pb + its checksum, renames the directory to step_N,
//    fsyncs root, then replaces `latest` (tmp + rename + fsync). Crashing
//    anywhere before that last rename leaves `latest` on the previous
//    checkpoint, which is untouched.
// 5. all ranks agree on rank 0's commit status; retention runs after it.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/commit.h"
#include "checkpoint/exchange.h"
#include "checkpoint/fs.h"
#include "checkpoint/meta_file.h"
#include "checkpoint/region.h"
#include "checkpoint/retention.h"
#include "checkpoint/slice_file.h"
#include "checkpoint/test_hook.h"

namespace moe::checkpoint {
namespace stdfs = std::filesystem;
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

// Leftovers of crashed saves (any .tmp_*, .old_*, .del_*) are removed: only
// one save runs at a time per root.
absl::Status prepare_save_dir(const std::string& root, const std::string& tmp) {
  std::error_code ec;
  stdfs::create_directories(root, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create checkpoint root ", root, ": ", ec.message()));
  std::vector<stdfs::path> leftovers;
  for (const auto& e : stdfs::directory_iterator(root, ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind(".tmp_", 0) == 0 || n.rfind(".old_", 0) == 0 || n.rfind(".del_", 0) == 0) leftovers.push_back(e.path());
  }
  for (const stdfs::path& p : leftovers) {
    const std::string n = p.filename().string();
    // A crash while replacing step_N left the old one aside and no new one:
    // put it back, `latest` may point to it.
    const stdfs::path orig = p.parent_path() / n.substr(5);
    if (n.rfind(".old_", 0) == 0 && !stdfs::exists(orig, ec)) {
      if (absl::Status st = fs::rename_durable(p.string(), orig.string()); !st.ok()) return st;
      continue;
    }
    stdfs::remove_all(p, ec);
  }
  stdfs::create_directory(tmp, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create ", tmp, ": ", ec.message()));
  return fs::fsync_path(root);
}

namespace {

// Merges every rank's index into `meta` (tensors sorted by name, files by
// rank), checking that ranks agree on each tensor's global shape and dtype
// and that its slices tile it exactly once.
absl::Status merge_indexes(const std::vector<RankIndex>& indexes, CheckpointMeta& meta) {
  std::map<std::string, TensorRecord> merged;
  std::map<std::string, int> first_rank;
  for (const RankIndex& idx : indexes) {
    if (idx.has_file() && !idx.file().name().empty()) *meta.add_files() = idx.file();
    for (const TensorRecord& t : idx.tensors()) {
      auto [it, fresh] = merged.try_emplace(t.name(), t);
      if (fresh) {
        first_rank[t.name()] = idx.rank();
        continue;
      }
      TensorRecord& m = it->second;
      if (m.dtype() != t.dtype() || global_shape_of(m) != global_shape_of(t))
        return absl::InvalidArgumentError(absl::StrCat(
            t.name(), ": rank ", first_rank[t.name()], " has global shape ", shape_str(global_shape_of(m)), " ",
            m.dtype(), ", rank ", idx.rank(), " has ", shape_str(global_shape_of(t)), " ", t.dtype()));
      *m.add_slices() = t.slices(0);
    }
  }
  for (auto& [name, t] : merged) {
    if (absl::Status st = check_tiling(t); !st.ok()) return st;
    *meta.add_tensors() = std::move(t);
  }
  return absl::OkStatus();
}

absl::Status commit(const std::string& root, const std::string& tmp, const std::string& final_dir,
                    const CheckpointMeta& meta) {
  if (absl::Status st = write_metadata(tmp, meta); !st.ok()) return st;
  test_kill_point("after_metadata");
  // Saving a step that exists (e.g. again right after resuming from it):
  // move the old one aside first; it is deleted once `latest` has moved.
  const std::string old = root + "/.old_" + stdfs::path(final_dir).filename().string();
  std::error_code ec;
  const bool replacing = stdfs::exists(final_dir, ec);
  if (replacing)
    if (absl::Status st = fs::rename_durable(final_dir, old); !st.ok()) return st;
  if (absl::Status st = fs::rename_durable(tmp, final_dir); !st.ok()) return st;
  test_kill_point("after_rename");
  if (absl::Status st = fs::write_file_atomic(root + "/latest", stdfs::path(final_dir).filename().string() + "\n");
      !st.ok())
    return st;
  if (replacing) stdfs::remove_all(old, ec);
  return absl::OkStatus();
}

}  // namespace

std::string step_dir_name(int64_t step) { return absl::StrFormat("step_%08d", step); }
std::string tmp_dir_for(const std::string& root, int64_t step) { return root + "/.tmp_" + step_dir_name(step); }

RankIndex make_rank_index(int rank, const absl::StatusOr<WrittenFile>& written) {
  RankIndex idx;
  idx.set_rank(rank);
  if (!written.ok()) {
    idx.set_error(encode_status(written.status()));
    return idx;
  }
  if (!written->file.name().empty()) *idx.mutable_file() = written->file;
  for (const TensorRecord& t : written->tensors) *idx.add_tensors() = t;
  return idx;
}

absl::Status commit_step(const std::string& root, int64_t step, const std::vector<RankIndex>& indexes,
                         const CheckpointMeta& meta, double seconds_so_far) {
  CheckpointMeta full = meta;
  full.clear_tensors();
  full.clear_files();
  full.set_format_version(kFormatVersion);
  full.set_step(step);
  full.set_save_seconds(seconds_so_far);
  if (absl::Status st = merge_indexes(indexes, full); !st.ok()) return st;
  return commit(root, tmp_dir_for(root, step), root + "/" + step_dir_name(step), full);
}

absl::StatusOr<SaveReport> save_checkpoint(comm::Communicator& world, const std::string& root, int64_t step,
                                           const std::vector<SaveTensor>& tensors, const CheckpointMeta& meta,
                                           const SaveOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  const int rank = world.rank();
  SaveReport report;
  const std::string final_dir = root + "/" + step_dir_name(step);
  const std::string tmp = tmp_dir_for(root, step);
  const std::string what = absl::StrCat("checkpoint step ", step, " not saved: ");

  absl::Status st = step < 0 ? absl::InvalidArgumentError(absl::StrCat("negative step ", step)) : absl::OkStatus();
  if (st.ok() && rank == 0) st = prepare_save_dir(root, tmp);
  st = agree(world, st);
  if (!st.ok()) return absl::Status(st.code(), what + std::string(st.message()));

  const auto tw = std::chrono::steady_clock::now();
  // An exception here must not leave the other ranks waiting in the
  // exchange below: it becomes this rank's error like any other.
  const absl::StatusOr<WrittenFile> written = [&]() -> absl::StatusOr<WrittenFile> {
    try {
      return write_rank_file(tmp, rank, tensors);
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("writing ", tmp, "/", rank_file_name(rank), ": ", e.what()));
    }
  }();
  report.write_seconds = seconds_since(tw);
  if (written.ok()) report.bytes_written = written->file.bytes();
  const RankIndex idx = make_rank_index(rank, written);

  // The status exchange: nothing is committed unless every rank wrote.
  const std::vector<std::string> blobs = all_gather_strings(world, idx.SerializeAsString());
  std::vector<RankIndex> indexes(blobs.size());
  st = absl::OkStatus();
  for (size_t r = 0; r < blobs.size() && st.ok(); ++r) {
    if (!indexes[r].ParseFromString(blobs[r]))
      st = absl::InternalError(absl::StrCat("rank ", r, ": unreadable index"));
    else if (!indexes[r].error().empty())
      st = absl::Status(decode_status(indexes[r].error()).code(),
                        absl::StrCat("rank ", r, ": ", decode_status(indexes[r].error()).message()));
  }
  std::error_code ec;
  if (!st.ok()) {  // every rank saw the same indexes, hence the same error
    if (rank == 0) stdfs::remove_all(tmp, ec);
    return absl::Status(st.code(), what + std::string(st.message()));
  }
  if (rank == 0) st = commit_step(root, step, indexes, meta, seconds_since(t0));
  st = agree(world, st);
  if (!st.ok()) {
    if (rank == 0) stdfs::remove_all(tmp, ec);
    return absl::Status(st.code(), what + std::string(st.message()));
  }
  if (rank == 0) {
    absl::StatusOr<std::vector<std::string>> deleted = apply_retention(root, options, final_dir);
    if (deleted.ok()) report.deleted = *std::move(deleted);
  }
  report.step_dir = final_dir;
  report.total_seconds = seconds_since(t0);
  return report;
}

}  // namespace moe::checkpoint
