#include "comm/mpi_work.h"

#include "comm/checks.h"
#include "comm/mpi_util.h"
#include "comm/watchdog.h"
#include "core/error.h"

namespace moe::comm {

MpiWork::MpiWork(const Communicator& c, const WaitSite& site, MPI_Request request, std::shared_ptr<void> keep,
                 std::function<Tensor()> finish)
    : c_(c), site_(site), request_(request), keep_(std::move(keep)), finish_(std::move(finish)) {}

MpiWork::~MpiWork() {
  if (finished_ || request_ == MPI_REQUEST_NULL) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  try {
    wait();  // MPI may still be writing into the buffers this Work keeps
  } catch (...) {
  }
}

bool MpiWork::test() {
  if (request_ == MPI_REQUEST_NULL) return true;
  int flag = 0;
  check_mpi(MPI_Test(&request_, &flag, &status_), site_.op, c_);
  return flag != 0;
}

void MpiWork::complete() {
  if (finished_) return;
  finished_ = true;
  if (finish_) result_ = finish_();
  finish_ = nullptr;
  keep_.reset();
}

void MpiWork::wait() {
  if (!finished_) watched_wait([this] { return test(); }, site_, c_);
  complete();
}

bool MpiWork::done() {
  if (!finished_ && test()) complete();
  return finished_;
}

void MpiWork::cancel_receive() {
  if (finished_ || request_ == MPI_REQUEST_NULL) return;
  MPI_Cancel(&request_);
  MPI_Wait(&request_, MPI_STATUS_IGNORE);  // a cancelled receive completes locally
  finished_ = true;
  finish_ = nullptr;
  keep_.reset();
}

Tensor MpiWork::result() {
  MOE_CHECK(finished_, where(site_.op, c_), ": result() before wait() or done()");
  return result_;
}

}  // namespace moe::comm
