#include "model/module.h"

#include "core/autograd.h"
#include "core/ops.h"

namespace moe::model {

uint64_t name_stream(const std::string& name) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : name) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

Tensor& Module::parameter(const std::string& name, const Shape& shape, Init init, double std) {
  params_.push_back({name, zeros(shape), init, std});
  return params_.back().tensor;
}

Tensor& Module::buffer(const std::string& name, Tensor value) {
  buffers_.emplace_back(name, std::move(value));
  return buffers_.back().second;
}

void Module::init_parameters(uint64_t seed, const std::string& prefix) {
  NoGradGuard no_grad;
  for (Param& p : params_) {
    const std::string full = prefix + p.name;
    switch (p.init) {
      case Init::normal:
        p.tensor = mul(randn(p.tensor.shape(), seed, name_stream(full)), p.std);
        break;
      case Init::ones:
        p.tensor = ones(p.tensor.shape());
        break;
      case Init::zeros:
        p.tensor = zeros(p.tensor.shape());
        break;
    }
    p.tensor.set_requires_grad(true);
  }
  for (auto& [name, m] : children_) m->init_parameters(seed, prefix + name + ".");
}

void Module::collect(const std::string& prefix, bool params, std::vector<Named>& out) const {
  if (params)
    for (const Param& p : params_) out.push_back({prefix + p.name, p.tensor});
  else
    for (const auto& [name, t] : buffers_) out.push_back({prefix + name, t});
  for (const auto& [name, m] : children_) m->collect(prefix + name + ".", params, out);
}

std::vector<Named> Module::named_parameters() const {
  std::vector<Named> out;
  collect("", true, out);
  return out;
}

std::vector<Named> Module::named_buffers() const {
  std::vector<Named> out;
  collect("", false, out);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const Named& p : named_parameters()) n += p.tensor.numel();
  return n;
}

void Module::cast_parameters(DType t) {
  {
    NoGradGuard no_grad;
    for (Param& p : params_) p.tensor = cast(p.tensor, t).set_requires_grad(true);
  }
  for (auto& [name, m] : children_) m->cast_parameters(t);
}

void Module::set_training(bool on) {
  training_ = on;
  for (auto& [name, m] : children_) m->set_training(on);
}

}  // namespace moe::model
