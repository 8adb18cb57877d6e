#include "core/device.h"

#include "core/error.h"

namespace moe {

Device Device::parse(const std::string& s) {
  if (s == "cpu") return cpu();
  if (s == "cuda") return cuda(0);
  if (s.rfind("cuda:", 0) == 0 && s.size() > 5) {
    const std::string idx = s.substr(5);
    MOE_CHECK(idx.find_first_not_of("0123456789") == std::string::npos,
              "bad device string '", s, "': expected cpu, cuda or cuda:N");
    return cuda(std::stoi(idx));
  }
  MOE_CHECK(false, "bad device string '", s, "': expected cpu, cuda or cuda:N");
}

}  // namespace moe
