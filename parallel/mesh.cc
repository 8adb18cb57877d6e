#include "parallel/mesh.h"

#include <numeric>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "comm/mpi_communicator.h"
#include "core/error.h"

namespace moe::parallel {

absl::Status validate_mesh(const MeshSizes& s, const MeshModelFacts& m) {
  std::vector<std::string> bad;
  if (s.tp < 1) bad.push_back(absl::StrCat("parallel.tp = ", s.tp, " must be >= 1"));
  if (s.ep < 1) bad.push_back(absl::StrCat("parallel.ep = ", s.ep, " must be >= 1"));
  if (!bad.empty()) return absl::InvalidArgumentError(absl::StrJoin(bad, "; "));
  if (s.world % s.tp != 0)
    bad.push_back(absl::StrCat("world size ", s.world, " is not divisible by parallel.tp = ", s.tp,
                               " (world must equal DP x TP)"));
  if (s.world % s.ep != 0)
    bad.push_back(absl::StrCat("parallel.ep = ", s.ep, " does not divide the world size ", s.world,
                               " (EP folds into DP x TP)"));
  if (s.ep > 1 && m.routed_experts == 0)
    bad.push_back(absl::StrCat("parallel.ep = ", s.ep, " but the model has no routed experts"));
  if (m.routed_experts > 0 && m.routed_experts % s.ep != 0)
    bad.push_back(absl::StrCat("model.moe.num_routed_experts = ", m.routed_experts,
                               " is not divisible by parallel.ep = ", s.ep));
  if (m.heads % s.tp != 0)
    bad.push_back(absl::StrCat("model.n_heads = ", m.heads, " is not divisible by parallel.tp = ", s.tp));
  if (m.kv_heads % s.tp != 0)
    bad.push_back(absl::StrCat("key/value heads = ", m.kv_heads, " are not divisible by parallel.tp = ", s.tp));
  if (m.vocab % s.tp != 0)
    bad.push_back(absl::StrCat("model.vocab_size = ", m.vocab, " is not divisible by parallel.tp = ", s.tp,
                               " (vocab-parallel embedding)"));
  if (m.seq_len % s.tp != 0)
    bad.push_back(absl::StrCat("seq_len = ", m.seq_len, " is not divisible by parallel.tp = ", s.tp,
                               " (sequence parallelism splits each sequence over TP)"));
  if (m.ffn_dim > 0 && m.ffn_dim % s.tp != 0)
    bad.push_back(absl::StrCat("model.ffn_dim = ", m.ffn_dim, " is not divisible by parallel.tp = ", s.tp));
  if (!bad.empty()) return absl::InvalidArgumentError(absl::StrCat("parallel layout: ", absl::StrJoin(bad, "; ")));
  return absl::OkStatus();
}

Mesh::Mesh(std::unique_ptr<comm::Communicator> world, int tp, int ep) : world_(std::move(world)) {
  sizes_.world = world_->size();
  sizes_.tp = tp;
  sizes_.ep = ep;
  MOE_CHECK(tp >= 1 && ep >= 1 && sizes_.world % tp == 0 && sizes_.world % ep == 0,
            "Mesh: world ", sizes_.world, " does not fit tp ", tp, " / ep ", ep, " (call validate_mesh first)");
  const int r = world_->rank();
  tp_ = world_->split(r / tp, r % tp, "tp");
  dp_ = world_->split(r % tp, r / tp, "dp");
  ep_ = world_->split(r / ep, r % ep, "ep");
  edp_ = world_->split(r % ep, r / ep, "edp");
  const int block = std::lcm(tp, ep);  // divides the world: both do
  tp_ep_ = world_->split(r / block, r % block, "tp_ep");
}

std::unique_ptr<Mesh> Mesh::single() {
  std::unique_ptr<Mesh> m(new Mesh());
  m->world_ = comm::self_communicator("world");
  m->tp_ = comm::self_communicator("tp");
  m->dp_ = comm::self_communicator("dp");
  m->ep_ = comm::self_communicator("ep");
  m->edp_ = comm::self_communicator("edp");
  m->tp_ep_ = comm::self_communicator("tp_ep");
  return m;
}

}  // namespace moe::parallel
