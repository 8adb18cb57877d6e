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
// Injected write errors of the commit (checkpoint/test_hook.h); 0: none.
struct CommitFaults {
  int metadata = 0;  // metadata.pb's write fails with this errno
  int latest = 0;    // `latest`'s write fails (after the step directory's rename)
};
// Rank 0 after the exchange (every index OK): merge, check one writer per
// slice, write metadata, rename into place, move `latest`. On failure the
// root is as before (a step directory renamed into place is taken back out
// unless `latest` names it); the caller removes the temporary directory.
absl::Status commit_step(const std::string& root, int64_t step, const std::vector<RankIndex>& indexes,
                         const CheckpointMeta& meta, double seconds_so_far, const CommitFaults& faults = {});

}  // namespace moe::checkpoint
