#pragma once
// Small collective exchanges of the save/load protocol: every rank's bytes
// to every rank (indexes, statuses). Two all-gathers (lengths, then padded
// payloads) over the world communicator.
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "comm/communicator.h"

namespace moe::checkpoint {

std::vector<std::string> all_gather_strings(comm::Communicator& c, const std::string& mine);
// Status <-> bytes for the exchange ("" is OK).
std::string encode_status(const absl::Status& s);
absl::Status decode_status(const std::string& s);

}  // namespace moe::checkpoint
