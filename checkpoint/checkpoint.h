#pragma once
// Distributed checkpoints of global tensors (format: checkpoint/FORMAT.md).
//
// Save: every rank writes only its own slices to its own HDF5 file; rank 0
// writes the index (metadata.pb) once every rank reported success, then
// commits by renames (crash-safe at any instant: `latest` moves last).
// Load: any layout reads any slice of any tensor from whatever slices were
// saved (resharding), verifying each slice's checksum as it is read.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "checkpoint/metadata.pb.h"
#include "comm/communicator.h"
#include "core/tensor.h"
#include "parallel/sharding.h"

namespace moe::checkpoint {

inline constexpr int kFormatVersion = 1;

// One tensor as this rank holds it. `local` is the slice `shard` of the
// global tensor (shard.dim < 0: the whole tensor). Only write == true
// tensors are stored; the caller marks exactly one writer per distinct slice
// (checkpoint/plan.h has the rules); the save fails naming the tensor when
// two ranks write the same slice or a tensor's slices leave a gap.
struct SaveTensor {
  std::string name;
  Tensor local;
  parallel::ShardSpec shard;
  bool write = true;
};

struct SaveOptions {
  int64_t keep_last = 2;   // <= 0: keep every checkpoint
  int64_t keep_every = 0;  // > 0: also keep steps that are multiples of it
  // Measure the root's free space first (statvfs on every rank) and fail
  // the save, writing nothing, when the files, the metadata and a margin do
  // not fit. Off only in tests that need a write itself to meet a full disk.
  bool check_space = true;
};

struct SaveReport {
  std::string step_dir;        // the committed directory
  int64_t bytes_written = 0;   // this rank's file
  double write_seconds = 0;    // this rank writing + fsyncing its own file
  double total_seconds = 0;    // the whole collective save on this rank
  std::vector<std::string> deleted;  // step dirs removed by retention (rank 0)
};

// Collective over `world`. `meta` carries what the caller knows (tokens
// seen, layout, config text, code version, RNG seeds, extra); step, format
// version, tensors and files are filled in here. On any rank's failure
// nothing is committed (no temporary directory is left, `latest` and the
// committed steps are untouched) and every rank returns the same error,
// naming each failing rank with its file and errno's text. Refused before
// anything is written: a tensor to write holding NaN or inf (the error
// names it and its rank; is_nonfinite_error), too little free space (how
// much is needed and available, on which file system).
absl::StatusOr<SaveReport> save_checkpoint(comm::Communicator& world, const std::string& root, int64_t step,
                                           const std::vector<SaveTensor>& tensors, const CheckpointMeta& meta,
                                           const SaveOptions& options = {});
// Whether a failed save refused non-finite values (no later save of the
// same state can succeed, unlike a full disk).
bool is_nonfinite_error(const absl::Status& s);
// This rank's own part of a failed save's error ("" when this rank did its
// part): the combined error every rank returns names all failing ranks, and
// a failing rank may want to log its own in its own log.
std::string own_save_error(const absl::Status& s);

// "step_00000123" for 123.
std::string step_dir_name(int64_t step);
// Committed step directories under root (full paths), oldest step first.
std::vector<std::string> list_steps(const std::string& root);
// `which`: "" or "latest" (root/latest), "step_123" / "123" (root/step_...),
// or a path: a step directory, or a root (then its latest).
absl::StatusOr<std::string> resolve(const std::string& root, const std::string& which);
absl::StatusOr<CheckpointMeta> read_metadata(const std::string& step_dir);

// Fills `into` (CPU, any strides, the model's dtype) with slice `want` of
// the saved global tensor `name`, reading the overlapping parts of the saved
// slices and verifying each slice's checksum. The model's global shape is
// want.global_shape(into.shape()) and must equal the saved one. Writes into
// the tensor's storage without autograd (parameters may require grad).
absl::Status load_tensor(const std::string& step_dir, const CheckpointMeta& meta, const std::string& name,
                         const parallel::ShardSpec& want, Tensor& into);
// The saved record of `name`, or null.
const TensorRecord* find_tensor(const CheckpointMeta& meta, const std::string& name);

// Every file present with its recorded size, every dataset there with the
// recorded shape and type, every checksum, every floating value finite
// (checksums = false: skip reading the data). The error lists every
// problem, each naming file and tensor (non-finite: how many values).
absl::Status verify_checkpoint(const std::string& step_dir, bool checksums = true);
// Human-readable summary: step, layout, versions, files, tensors (global
// shape, dtype, slices with file, dataset, bytes, checksum).
absl::StatusOr<std::string> inspect(const std::string& step_dir);

// The checkpoint to resume from: resolve(root, which) when it verifies, else
// the newest older committed one that does; `rejected` says why each newer
// one was skipped ("<dir>: <reason>"). Error when none verifies.
struct Loadable {
  std::string step_dir;
  std::vector<std::string> rejected;
};
absl::StatusOr<Loadable> find_loadable(const std::string& root, const std::string& which, bool checksums = true);
// Collective: rank 0 decides (one verification, not one per rank) and every
// rank gets the same answer.
absl::StatusOr<Loadable> find_loadable(comm::Communicator& world, const std::string& root, const std::string& which,
                                       bool checksums = true);

// Collective: OK on every rank when every rank passes OK, else every rank
// gets the lowest failing rank's error prefixed "rank R: " (so all ranks
// fail a load together instead of one hanging in the next collective).
absl::Status agree(comm::Communicator& world, const absl::Status& mine);

}  // namespace moe::checkpoint
