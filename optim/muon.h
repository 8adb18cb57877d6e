#pragma once
// Muon (Keller Jordan) with Moonlight's update-RMS matching and decoupled
// weight decay (arXiv 2502.16982), for the matrices is_muon_matrix() picks:
//   B  = mu B + G
//   D  = nesterov ? G + mu B : B
//   O  = newton_schulz(D, ns_steps)          (each expert's matrix separately)
//   p -= lr * wd * p
//   p -= lr * rms_match * sqrt(max(rows, cols)) * O
// rms_match = 0.2 makes the update's RMS about AdamW's, so both groups share
// one learning rate. Every other parameter (embeddings, the head, norms,
// biases, vectors) goes to an inner AdamW with the same lr. Muon has no step
// counter: its update needs none. The momentum buffer B is stored in
// optim.moment_dtype (optim/moments.h); the inner AdamW's moments too.
#include <memory>
#include <vector>

#include "optim/adamw.h"
#include "optim/optimizer.h"

namespace moe::optim {

class Muon final : public Optimizer {
 public:
  Muon(std::vector<NamedParam> params, const config::OptimizerConfig& cfg);

  void step(double lr) override;
  // "<name>.momentum_buffer" for the Muon matrices, then the inner AdamW's.
  NamedTensors state() const override;

  // Names of the parameters Muon updates itself (the rest go to AdamW).
  std::vector<std::string> muon_param_names() const;

 private:
  struct Slot {
    size_t index;  // into params()
    Tensor momentum;
    double weight_decay;
  };
  void update(const Slot& s, const Tensor& g, double lr);
  void update_on_device(const Slot& s, const Tensor& g, double lr);

  config::MuonConfig cfg_;
  std::vector<Slot> slots_;
  std::unique_ptr<AdamW> adamw_;
};

}  // namespace moe::optim
