#include "optim/optimizer.h"

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"

namespace moe::optim {

Optimizer::Optimizer(std::vector<NamedParam> params) : params_(std::move(params)) {
  std::set<std::string> seen;
  for (const NamedParam& np : params_) {
    MOE_CHECK(!np.name.empty(), "optimizer: a parameter has an empty name");
    MOE_CHECK(seen.insert(np.name).second, "optimizer: parameter name '", np.name, "' appears twice");
    const Tensor& p = np.param;
    MOE_CHECK(p.defined(), "optimizer: parameter '", np.name, "' is undefined");
    MOE_CHECK(p.dtype() == DType::f32 && p.is_contiguous(), "optimizer: parameter '", np.name,
              "' must be a contiguous f32 tensor (the master weights), got ", p.str());
    MOE_CHECK(p.device() == params_.front().param.device(), "optimizer: parameter '", np.name, "' is on ",
              p.device(), ", the first parameter on ", params_.front().param.device());
  }
}

void Optimizer::zero_grad() {
  for (NamedParam& np : params_) np.param.zero_grad();
}

Tensor Optimizer::grad_of(size_t i) const {
  const NamedParam& np = params_[i];
  const Tensor g = np.param.grad();
  if (!g.defined()) return g;
  MOE_CHECK(g.dtype() == DType::f32 && g.device() == np.param.device() && g.shape() == np.param.shape(),
            "optimizer: gradient of '", np.name, "' must be f32 on ", np.param.device(), " with shape ",
            shape_str(np.param.shape()), ", got ", g.str());
  return g.is_contiguous() ? g : contiguous(g);
}

absl::Status Optimizer::load_state(const NamedTensors& saved) {
  const NamedTensors live = state();
  std::map<std::string, const Tensor*> by_name;
  for (const auto& [name, t] : saved) {
    if (!by_name.emplace(name, &t).second)
      return absl::InvalidArgumentError(absl::StrCat("optimizer state: '", name, "' appears twice"));
  }
  for (const auto& [name, t] : live) {
    auto it = by_name.find(name);
    if (it == by_name.end()) return absl::NotFoundError(absl::StrCat("optimizer state: '", name, "' is missing"));
    const Tensor& s = *it->second;
    if (!s.defined() || s.shape() != t.shape() || s.dtype() != t.dtype())
      return absl::InvalidArgumentError(absl::StrCat(
          "optimizer state: '", name, "' should be ", t.str(), ", got ", s.defined() ? s.str() : "undefined"));
  }
  if (saved.size() != live.size()) {
    std::set<std::string> known;
    for (const auto& entry : live) known.insert(entry.first);
    for (const auto& entry : saved)
      if (!known.count(entry.first))
        return absl::InvalidArgumentError(
            absl::StrCat("optimizer state: unexpected entry '", entry.first, "' (not state of these parameters)"));
  }
  NoGradGuard no_grad;
  for (const auto& [name, t] : live) {
    Tensor dst = t;
    copy_(dst, *by_name.at(name));
  }
  return absl::OkStatus();
}

}  // namespace moe::optim
