#include "model/module.h"

#include "core/autograd.h"
#include "core/error.h"
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

Tensor& Module::parameter(const std::string& name, const Shape& shape, Init init, double std,
                          parallel::ShardSpec shard) {
  Shape local = shape;
  if (shard.dim >= 0) {
    MOE_CHECK(shard.dim < int(shape.size()) && shard.count > 0 && shape[size_t(shard.dim)] % shard.count == 0 &&
                  shard.index >= 0 && shard.index < shard.count,
              "parameter ", name, ": global shape ", shape_str(shape), " cannot be split in ", shard.count,
              " along dim ", shard.dim);
    local[size_t(shard.dim)] /= shard.count;
  } else {
    shard.count = 1;
    shard.index = 0;
  }
  params_.push_back({name, zeros(local), init, std, shard});
  return params_.back().tensor;
}

Tensor& Module::buffer(const std::string& name, Tensor value, parallel::ShardSpec shard) {
  buffers_.push_back({name, std::move(value), shard});
  return buffers_.back().tensor;
}

void Module::init_parameters(uint64_t seed, const std::string& prefix) {
  NoGradGuard no_grad;
  for (Param& p : params_) {
    const std::string full = prefix + p.name;
    switch (p.init) {
      case Init::normal: {
        // The global tensor's numbers, then this rank's slice of them.
        Tensor g = randn(p.shard.global_shape(p.tensor.shape()), seed, name_stream(full));
        if (p.shard.dim >= 0) {
          const int64_t len = p.tensor.size(p.shard.dim);
          g = contiguous(narrow(g, p.shard.dim, p.shard.index * len, len));
        }
        p.tensor = mul(g, p.std);
        break;
      }
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
    for (const Param& p : params_) out.push_back({prefix + p.name, p.tensor, p.shard});
  else
    for (const Named& b : buffers_) out.push_back({prefix + b.name, b.tensor, b.shard});
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

std::vector<Module*> Module::submodules() const {
  std::vector<Module*> out;
  for (const auto& [name, m] : children_) {
    out.push_back(m);
    for (Module* d : m->submodules()) out.push_back(d);
  }
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

void Module::to_device(Device d) {
  {
    NoGradGuard no_grad;
    for (Param& p : params_) p.tensor = moe::to_device(p.tensor, d).set_requires_grad(true);
    for (Named& b : buffers_) b.tensor = moe::to_device(b.tensor, d);
  }
  for (auto& [name, m] : children_) m->to_device(d);
}

void Module::set_training(bool on) {
  training_ = on;
  for (auto& [name, m] : children_) m->set_training(on);
}

}  // namespace moe::model
