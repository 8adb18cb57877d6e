#pragma once
// Work of one nonblocking MPI operation: owns the request, keeps the
// operation's buffers alive until it completes, and runs a finishing step
// (avg division, moving a gathered dim back) exactly once on completion.
#include <mpi.h>

#include <functional>
#include <memory>
#include <vector>

#include "comm/communicator.h"
#include "comm/watchdog.h"

namespace moe::comm {

class MpiWork final : public Work {
 public:
  // finish() returns the result tensor (undefined for in-place ops). `keep`
  // holds whatever MPI reads or writes; `c` must outlive the Work. `site`
  // names the operation and its sequence number for the watchdog.
  MpiWork(const Communicator& c, const WaitSite& site, MPI_Request request, std::shared_ptr<void> keep,
          std::function<Tensor()> finish);
  ~MpiWork() override;  // waits for an unfinished operation
  MpiWork(const MpiWork&) = delete;
  MpiWork& operator=(const MpiWork&) = delete;

  void wait() override;
  bool done() override;
  Tensor result() override;
  // Cancels a pending point-to-point receive after a failed wait, so MPI no
  // longer writes into its buffer (not for collectives: MPI cannot cancel
  // those).
  void cancel_receive();
  // The MPI status of the completed request (valid after wait()).
  const MPI_Status& status() const { return status_; }

 private:
  bool test();
  void complete();

  const Communicator& c_;
  WaitSite site_;
  MPI_Request request_;
  MPI_Status status_{};
  std::shared_ptr<void> keep_;
  std::function<Tensor()> finish_;
  Tensor result_;
  bool finished_ = false;
};

}  // namespace moe::comm
