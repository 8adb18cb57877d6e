#pragma once
// The rank-local steps of save_checkpoint, exposed so that tests can
// assemble a checkpoint of several simulated ranks in one process
// (write_rank_file per rank, then commit_step) exactly as the collective
// save does.
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/metadata.pb.h"
#include "checkpoint/slice_file.h"

namespace moe::checkpoint {

std::string tmp_dir_for(const std::string& root, int64_t step);  // root/.tmp_step_...
// Rank 0 before anyone writes: a fresh temporary directory; leftovers of
// crashed saves are removed (or restored, see save.cc).
absl::Status prepare_save_dir(const std::string& root, const std::string& tmp);
// What a rank contributes to the exchange.
RankIndex make_rank_index(int rank, const absl::StatusOr<WrittenFile>& written);
// Rank 0 after the exchange (every index OK): merge, check one writer per
// slice, write metadata, rename into place, move `latest`.
absl::Status commit_step(const std::string& root, int64_t step, const std::vector<RankIndex>& indexes,
                         const CheckpointMeta& meta, double seconds_so_far);

}  // namespace moe::checkpoint
