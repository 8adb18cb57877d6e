// save_checkpoint: the collective write and the commit protocol.
//
// 0. every rank checks that the tensors it will write are finite; all ranks
//    exchange that verdict and the bytes each will write, and check that the
//    root's file system has room for all of it (plus metadata and a margin).
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
// Any failure leaves the root as it was: no temporary directory, `latest`
// and the committed steps untouched; every rank returns the same error,
// naming each failing rank, its file and errno's text.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/commit.h"
#include "checkpoint/exchange.h"
#include "checkpoint/finite.h"
#include "checkpoint/fs.h"
#include "checkpoint/meta_file.h"
#include "checkpoint/region.h"
#include "checkpoint/retention.h"
#include "checkpoint/slice_file.h"
#include "checkpoint/space.h"
#include "checkpoint/test_hook.h"
#include "core/ops.h"

namespace moe::checkpoint {
namespace stdfs = std::filesystem;
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

constexpr const char* kNonFinitePayload = "moe.checkpoint/nonfinite";
constexpr const char* kOwnErrorPayload = "moe.checkpoint/own_error";

// Every failing rank's error in one status (ranks with the same message
// grouped: "ranks 0, 1: ..."), with the lowest failing rank's code; OK when
// every entry is. One rank: its message alone.
absl::Status combine(const std::vector<absl::Status>& per_rank) {
  std::vector<std::pair<std::string, std::vector<int>>> groups;
  absl::StatusCode code = absl::StatusCode::kOk;
  for (size_t r = 0; r < per_rank.size(); ++r) {
    if (per_rank[r].ok()) continue;
    if (code == absl::StatusCode::kOk) code = per_rank[r].code();
    const std::string msg(per_rank[r].message());
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == msg; });
    if (it == groups.end()) it = groups.insert(groups.end(), {msg, {}});
    it->second.push_back(int(r));
  }
  if (groups.empty()) return absl::OkStatus();
  if (per_rank.size() == 1) return absl::Status(code, groups[0].first);
  std::vector<std::string> parts;
  for (const auto& [msg, ranks] : groups)
    parts.push_back(absl::StrCat(ranks.size() == 1 ? "rank " : "ranks ", absl::StrJoin(ranks, ", "), ": ", msg));
  return absl::Status(code, absl::StrJoin(parts, "; "));
}

// Collective: every rank's status, combined.
absl::Status agree_all(comm::Communicator& world, const absl::Status& mine) {
  std::vector<absl::Status> all;
  for (const std::string& s : all_gather_strings(world, encode_status(mine))) all.push_back(decode_status(s));
  return combine(all);
}

// The tensors this rank will write, checked for NaN and inf; the error
// names each offending tensor (the first few) and its slice.
absl::Status check_finite(const std::vector<SaveTensor>& tensors) {
  constexpr size_t kMaxNamed = 5;
  std::vector<std::string> bad;
  size_t total = 0;
  for (const SaveTensor& t : tensors) {
    if (!t.write) continue;
    const NonFinite n = find_nonfinite(t.local);
    if (n.count == 0) continue;
    if (total++ >= kMaxNamed) continue;
    const std::string slice =
        t.shard.dim < 0 ? ""
                        : absl::StrCat(" (slice ", t.shard.index, " of ", t.shard.count, " along dim ", t.shard.dim, ")");
    bad.push_back(absl::StrCat(t.name, slice, ": ", describe(n)));
  }
  if (bad.empty()) return absl::OkStatus();
  std::string msg = absl::StrCat("non-finite values in ", total, " tensor", total == 1 ? "" : "s", ": ",
                                 absl::StrJoin(bad, "; "));
  if (total > bad.size()) absl::StrAppend(&msg, "; and ", total - bad.size(), " more");
  return absl::FailedPreconditionError(msg);
}

// What a rank writes, for the space check: its file and its share of the
// index in metadata.pb.
int64_t rank_payload(const std::vector<SaveTensor>& tensors) {
  int64_t index = 0;
  for (const SaveTensor& t : tensors)
    if (t.write) index += 2 * int64_t(t.name.size()) + 96;
  return estimated_file_bytes(tensors) + index;
}

// Whether the root's file system has room for `payload` bytes plus the
// margin; the error says how much is needed and available, and where.
absl::Status check_space(const std::string& root, int64_t payload, int64_t files_bytes, int64_t metadata_bytes,
                         int writers) {
  absl::StatusOr<FsSpace> fs = space_at(root);
  if (!fs.ok()) return fs.status();
  const int64_t margin = space_margin(payload);
  const int64_t need = payload + margin;
  if (fs->available >= uint64_t(need)) return absl::OkStatus();
  const std::string where =
      fs->mount.empty() ? fs->probed
                        : absl::StrCat(fs->type, " file system ", fs->mount,
                                       fs->probed == fs->mount ? "" : absl::StrCat(" (at ", fs->probed, ")"));
  return absl::ResourceExhaustedError(absl::StrCat(
      "not enough free space under ", root, ": the save needs ", bytes_str(need), " (", bytes_str(files_bytes),
      " in the files of ", writers, " rank", writers == 1 ? "" : "s", ", ", bytes_str(metadata_bytes),
      " of metadata, ", bytes_str(margin), " margin), ", bytes_str(int64_t(fs->available)), " available on ", where));
}

}  // namespace

bool is_nonfinite_error(const absl::Status& s) { return s.GetPayload(kNonFinitePayload).has_value(); }

std::string own_save_error(const absl::Status& s) {
  const auto c = s.GetPayload(kOwnErrorPayload);
  return c ? std::string(*c) : std::string();
}

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
                    const CheckpointMeta& meta, const CommitFaults& faults) {
  if (absl::Status st = write_metadata(tmp, meta, faults.metadata); !st.ok()) return st;
  test_kill_point("after_metadata");
  // Saving a step that exists (e.g. again right after resuming from it):
  // move the old one aside first; it is deleted once `latest` has moved.
  const std::string old = root + "/.old_" + stdfs::path(final_dir).filename().string();
  std::error_code ec;
  const bool replacing = stdfs::exists(final_dir, ec);
  if (replacing)
    if (absl::Status st = fs::rename_durable(final_dir, old); !st.ok()) return st;
  // A failure from here on puts the old step back (the caller removes tmp).
  auto restore_old = [&] {
    if (replacing && !stdfs::exists(final_dir, ec)) (void)fs::rename_durable(old, final_dir);
  };
  if (absl::Status st = fs::rename_durable(tmp, final_dir); !st.ok()) {
    if (!stdfs::exists(tmp, ec) && stdfs::exists(final_dir, ec)) (void)fs::rename_durable(final_dir, tmp);
    restore_old();
    return st;
  }
  test_kill_point("after_rename");
  const std::string name = stdfs::path(final_dir).filename().string();
  if (absl::Status st = fs::write_file_atomic(root + "/latest", name + "\n", faults.latest); !st.ok()) {
    // Unless `latest` already names this step (a replaced step, or a rename
    // that happened but could not be fsynced), take the step back out: a
    // step directory `latest` does not name is not committed.
    absl::StatusOr<std::string> now = resolve(root, "latest");
    if (!now.ok() || *now != final_dir) {
      (void)fs::rename_durable(final_dir, tmp);
      restore_old();
    }
    return st;
  }
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
                         const CheckpointMeta& meta, double seconds_so_far, const CommitFaults& faults) {
  CheckpointMeta full = meta;
  full.clear_tensors();
  full.clear_files();
  full.set_format_version(kFormatVersion);
  full.set_step(step);
  full.set_save_seconds(seconds_so_far);
  if (absl::Status st = merge_indexes(indexes, full); !st.ok()) return st;
  return commit(root, tmp_dir_for(root, step), root + "/" + step_dir_name(step), full, faults);
}

absl::StatusOr<SaveReport> save_checkpoint(comm::Communicator& world, const std::string& root, int64_t step,
                                           const std::vector<SaveTensor>& given, const CheckpointMeta& meta,
                                           const SaveOptions& options) {
  // Device tensors are checked and written from host copies.
  std::vector<SaveTensor> staged;
  for (size_t i = 0; i < given.size(); ++i)
    if (given[i].local.defined() && !given[i].local.device().is_cpu()) {
      if (staged.empty()) staged = given;
      staged[i].local = host_copy(given[i].local);
    }
  const std::vector<SaveTensor>& tensors = staged.empty() ? given : staged;
  const auto t0 = std::chrono::steady_clock::now();
  const int rank = world.rank();
  SaveReport report;
  const std::string final_dir = root + "/" + step_dir_name(step);
  const std::string tmp = tmp_dir_for(root, step);
  const std::string what = absl::StrCat("checkpoint step ", step, " not saved: ");
  absl::Status own;  // this rank's own failure, if it had one
  auto failed = [&](const absl::Status& st) {
    absl::Status out(st.code(), what + std::string(st.message()));
    if (!own.ok()) out.SetPayload(kOwnErrorPayload, absl::Cord(own.message()));
    return out;
  };

  // 0. Nothing non-finite, and room for everything, before anything is
  // written: each rank sends its verdict and its byte counts ("PAYLOAD
  // FILE_BYTES STATUS").
  absl::Status st = step < 0 ? absl::InvalidArgumentError(absl::StrCat("negative step ", step)) : check_finite(tensors);
  own = st;
  const int64_t my_file = estimated_file_bytes(tensors);
  const int64_t my_payload = rank_payload(tensors) + (rank == 0 ? int64_t(meta.ByteSizeLong()) : 0);
  std::vector<absl::Status> verdicts;
  int64_t payload = 0, files_bytes = 0;
  for (const std::string& blob :
       all_gather_strings(world, absl::StrCat(my_payload, " ", my_file, " ", encode_status(st)))) {
    const std::vector<std::string> f = absl::StrSplit(blob, absl::MaxSplits(' ', 2));
    int64_t p = 0, b = 0;
    if (f.size() != 3 || !absl::SimpleAtoi(f[0], &p) || !absl::SimpleAtoi(f[1], &b)) {
      verdicts.push_back(absl::InternalError("unreadable save status"));
      continue;
    }
    verdicts.push_back(decode_status(f[2]));
    payload += p;
    files_bytes += b;
  }
  st = combine(verdicts);
  if (!st.ok()) {
    absl::Status out = failed(st);
    for (const absl::Status& v : verdicts)
      if (v.code() == absl::StatusCode::kFailedPrecondition) out.SetPayload(kNonFinitePayload, absl::Cord("1"));
    return out;
  }
  // Every rank measures: the root is one file system all ranks see, but a
  // rank that sees less room (another mount, a quota) must stop the save too.
  if (options.check_space) st = check_space(root, payload, files_bytes, payload - files_bytes, world.size());
  if (st.ok() && rank == 0) st = prepare_save_dir(root, tmp);
  own = st;
  st = agree_all(world, st);
  std::error_code ec;
  if (!st.ok()) {
    if (rank == 0) stdfs::remove_all(tmp, ec);
    return failed(st);
  }

  // Test hook: a NaN in the saved copy of one tensor, past the check above.
  std::vector<SaveTensor> poisoned;
  if (const std::string name = test_nan_tensor(step); !name.empty()) {
    poisoned = tensors;
    for (SaveTensor& t : poisoned)
      if (t.write && t.name == name && t.local.defined() && t.local.dtype() == DType::f32 && t.local.numel() > 0) {
        t.local = t.local.detach().contiguous().clone();
        t.local.data<float>()[0] = std::numeric_limits<float>::quiet_NaN();
        std::fprintf(stderr, "[rank %d] MOE_CKPT_TEST_NAN_TENSOR: writing %s[0] = nan in step %lld\n", rank,
                     name.c_str(), static_cast<long long>(step));
      }
  }
  const std::vector<SaveTensor>& to_write = poisoned.empty() ? tensors : poisoned;

  const auto tw = std::chrono::steady_clock::now();
  // An exception here must not leave the other ranks waiting in the
  // exchange below: it becomes this rank's error like any other.
  const absl::StatusOr<WrittenFile> written = [&]() -> absl::StatusOr<WrittenFile> {
    try {
      return write_rank_file(tmp, rank, to_write, injected_write_error("slice", step, rank));
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
  std::vector<absl::Status> wrote(blobs.size());
  for (size_t r = 0; r < blobs.size(); ++r) {
    if (!indexes[r].ParseFromString(blobs[r]))
      wrote[r] = absl::InternalError("unreadable index");
    else
      wrote[r] = decode_status(indexes[r].error());
  }
  own = written.status();
  st = combine(wrote);
  if (!st.ok()) {  // every rank saw the same indexes, hence the same error
    if (rank == 0) stdfs::remove_all(tmp, ec);
    return failed(st);
  }
  if (rank == 0) {
    const CommitFaults faults{injected_write_error("metadata", step, 0), injected_write_error("latest", step, 0)};
    st = commit_step(root, step, indexes, meta, seconds_since(t0), faults);
    own = st;
  }
  st = agree(world, st);
  if (!st.ok()) {
    if (rank == 0) stdfs::remove_all(tmp, ec);
    return failed(st);
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
