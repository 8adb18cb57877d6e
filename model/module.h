#pragma once
// Module: a node of the model tree that owns named parameters (trained,
// f32 leaves) and buffers (state that is saved but not trained, e.g. the
// router's selection bias). Names are dotted paths from the root
// ("layers.0.attn.wq.weight"); the optimizer, checkpoints and the
// initialiser all key on them.
#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "parallel/sharding.h"

namespace moe::model {

struct Named {
  std::string name;
  Tensor tensor;                 // this rank's slice
  parallel::ShardSpec shard;     // how the slice sits in the global tensor
};

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Every parameter / buffer of this module and its children, in
  // registration order, with full dotted names.
  std::vector<Named> named_parameters() const;
  std::vector<Named> named_buffers() const;
  int64_t num_parameters() const;
  // Every descendant module (not this one), depth first in registration order.
  std::vector<Module*> submodules() const;

  // Converts every parameter to dtype t (e.g. f64 for gradient checks);
  // buffers keep their dtype.
  void cast_parameters(DType t);
  // Moves every parameter and buffer to device d (master weights stay f32).
  // A buffer that aliases other state (an FP8 amax history) is copied, not
  // moved with it: FP8 runs stay on the CPU until that state can move.
  void to_device(Device d);

  // Training mode turns on routing statistics, dropout and bias-load counting.
  void set_training(bool on);
  bool training() const { return training_; }

 protected:
  // Registers a parameter initialised from (seed, full name, element index):
  // the numbers never depend on the layout or on construction order. The
  // full name is known only once the module is attached, so initialisation
  // happens in init_parameters() (called by the root after construction).
  // `shape` is the GLOBAL shape; with a sharded `shard` this rank holds the
  // slice shard.index of shard.count along shard.dim, initialised with the
  // global tensor's numbers (so every layout starts from the same weights).
  enum class Init { normal, ones, zeros };
  Tensor& parameter(const std::string& name, const Shape& shape, Init init, double std = 0.0,
                    parallel::ShardSpec shard = {});
  // `shard`: how this rank's buffer sits in the global one (default: whole,
  // the same on every rank).
  Tensor& buffer(const std::string& name, Tensor value, parallel::ShardSpec shard = {});
  template <typename M>
  M& child(const std::string& name, M* m) {
    children_.emplace_back(name, m);
    return *m;
  }

 public:
  // Fills every parameter from (seed, full name); called once on the root.
  void init_parameters(uint64_t seed, const std::string& prefix = "");

 private:
  struct Param {
    std::string name;
    Tensor tensor;
    Init init;
    double std;
    parallel::ShardSpec shard;
  };
  void collect(const std::string& prefix, bool params, std::vector<Named>& out) const;
  // Deques: the references handed out by parameter()/buffer() stay valid.
  std::deque<Param> params_;
  std::deque<Named> buffers_;
  std::vector<std::pair<std::string, Module*>> children_;  // owned by the derived module's members
  bool training_ = true;
};

// Stream id of a parameter's random numbers: FNV-1a of its full name.
uint64_t name_stream(const std::string& name);

}  // namespace moe::model
