#include "checkpoint/exchange.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "checkpoint/checkpoint.h"
#include "core/ops.h"

namespace moe::checkpoint {

std::vector<std::string> all_gather_strings(comm::Communicator& c, const std::string& mine) {
  if (c.size() == 1) return {mine};
  Tensor len = zeros({1}, DType::i64);
  *len.data<int64_t>() = int64_t(mine.size());
  const Tensor lens = c.all_gather(len, 0);
  int64_t longest = 0;
  for (int r = 0; r < c.size(); ++r) longest = std::max(longest, lens.data<int64_t>()[r]);
  // Payloads travel as i64 words (a reduction-free dtype every backend moves).
  const int64_t words = std::max<int64_t>(1, (longest + 7) / 8);
  Tensor buf = zeros({words}, DType::i64);
  std::memcpy(buf.raw_data(), mine.data(), mine.size());
  const Tensor all = c.all_gather(buf, 0);
  std::vector<std::string> out(size_t(c.size()));
  const char* base = static_cast<const char*>(all.raw_data());
  for (int r = 0; r < c.size(); ++r) out[size_t(r)].assign(base + r * words * 8, size_t(lens.data<int64_t>()[r]));
  return out;
}

std::string encode_status(const absl::Status& s) {
  if (s.ok()) return "";
  return absl::StrCat(int(s.code()), ":", s.message());
}

absl::Status decode_status(const std::string& s) {
  if (s.empty()) return absl::OkStatus();
  const size_t colon = s.find(':');
  const int code = std::atoi(s.substr(0, colon).c_str());
  return absl::Status(absl::StatusCode(code == 0 ? int(absl::StatusCode::kUnknown) : code), s.substr(colon + 1));
}

absl::Status agree(comm::Communicator& world, const absl::Status& mine) {
  const std::vector<std::string> all = all_gather_strings(world, encode_status(mine));
  for (size_t r = 0; r < all.size(); ++r) {
    absl::Status s = decode_status(all[r]);
    if (!s.ok()) return absl::Status(s.code(), world.size() == 1 ? std::string(s.message()) : absl::StrCat("rank ", r, ": ", s.message()));
  }
  return absl::OkStatus();
}

}  // namespace moe::checkpoint
