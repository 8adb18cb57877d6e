#pragma once
// Error model of the core: a violated precondition (shape, dtype, device,
// index out of range, misuse of autograd) throws moe::Error from MOE_CHECK
// with a message that names the op and the offending values. I/O and config
// boundaries (files, flags, checkpoints) return absl::Status instead; see
// DESIGN.md "Error model".
#include <sstream>
#include <stdexcept>
#include <string>

namespace moe {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
inline void append(std::ostringstream&) {}
template <typename T, typename... Rest>
void append(std::ostringstream& os, const T& v, const Rest&... rest) {
  os << v;
  append(os, rest...);
}
template <typename... Args>
[[noreturn]] void fail(const char* cond, const char* file, int line, const Args&... args) {
  std::ostringstream os;
  append(os, args...);
  if (os.tellp() == 0) os << "check failed: " << cond;
  os << " [" << file << ":" << line << "]";
  throw Error(os.str());
}
}  // namespace detail

}  // namespace moe

// MOE_CHECK(cond, parts...): throws moe::Error built from the streamed parts.
#define MOE_CHECK(cond, ...)                                                  \
  do {                                                                        \
    if (!(cond)) ::moe::detail::fail(#cond, __FILE__, __LINE__, ##__VA_ARGS__); \
  } while (0)
