#include "model/balance_loss.h"

#include "core/ops.h"

namespace moe::model {

Tensor AuxLosses::total() const {
  Tensor t;
  for (const Tensor& x : {expert, device, comm, sequence, z})
    if (x.defined()) t = t.defined() ? add(t, x) : x;
  return t;
}

BalanceCounts balance_counts(const BalanceInputs& in, bool per_sequence) {
  const int64_t E = in.scores.size(1), K = in.top_k, G = in.groups, M = in.top_groups;
  const int64_t N = in.batch * in.seq, per_group = E / G;
  BalanceCounts c;
  c.rows = per_sequence ? in.batch : 1;
  c.T = in.row_tokens > 0 ? in.row_tokens : (per_sequence ? in.seq : N);
  c.f.assign(size_t(c.rows * E), 0.0);
  c.f_comm.assign(size_t(c.rows * G), 0.0);
  std::vector<char> sent(static_cast<size_t>(G));
  for (int64_t t = 0; t < N; ++t) {
    const int64_t r = per_sequence ? t / in.seq : 0;
    std::fill(sent.begin(), sent.end(), 0);
    for (int64_t k = 0; k < K; ++k) {
      const int64_t a = t * K + k, e = (*in.experts)[size_t(a)];
      c.f[size_t(r * E + e)] += 1.0;
      if ((*in.keep)[size_t(a)]) sent[size_t(e / per_group)] = 1;
    }
    for (int64_t d = 0; d < G; ++d) c.f_comm[size_t(r * G + d)] += sent[size_t(d)];
  }
  if (in.row_group && in.row_group->size() > 1) {
    c.f = comm::all_reduce_values(*in.row_group, std::move(c.f), comm::ReduceOp::sum);
    c.f_comm = comm::all_reduce_values(*in.row_group, std::move(c.f_comm), comm::ReduceOp::sum);
  }
  const double fs = double(E) / (double(K) * double(c.T)), cs = double(G) / (double(M) * double(c.T));
  for (double& v : c.f) v *= fs;
  for (double& v : c.f_comm) v *= cs;
  return c;
}

namespace {

Tensor constant(const std::vector<double>& v, const Shape& s, const Tensor& like) {
  return from_vector(v, s, like.dtype(), like.device());
}

// sum over the last dim of a [rows, E] tensor grouped into [rows, G].
Tensor group_sum(const Tensor& x, int64_t groups) {
  return sum(view(x, {x.size(0), groups, x.size(1) / groups}), {2});
}

}  // namespace

AuxLosses aux_losses(const config::MoeConfig& c, const BalanceInputs& in) {
  AuxLosses out;
  const bool per_seq = c.balance_scope() == config::BALANCE_PER_SEQUENCE;
  const bool any_balance = c.expert_balance_coef() > 0 || c.device_balance_coef() > 0 ||
                           c.comm_balance_coef() > 0 || c.sequence_balance_coef() > 0;
  const int64_t E = in.scores.size(1), G = in.groups;
  if (any_balance) {
    const BalanceCounts counts = balance_counts(in, per_seq);
    const int64_t R = counts.rows;
    const Tensor s3 = view(in.scores, {R, -1, E});  // this rank's tokens of each row
    const double inv_t = 1.0 / double(counts.T);
    const Tensor P = mul(sum(s3, {1}), inv_t);  // P_i = (1/T) sum_t s_{i,t}   [R, E]
    const Tensor f = constant(counts.f, {R, E}, in.scores);
    const double inv_r = in.rank_scale / double(R);
    if (c.expert_balance_coef() > 0)  // alpha1 * sum_i f_i P_i
      out.expert = mul(sum(mul(f, P)), c.expert_balance_coef() * inv_r);
    if (c.device_balance_coef() > 0 || c.comm_balance_coef() > 0) {
      const Tensor P_dev = group_sum(P, G);  // P'_d = P''_d = sum of P_j over group d's experts
      if (c.device_balance_coef() > 0) {
        // f'_d = mean of f_j over group d's experts
        const Tensor f_dev = mul(group_sum(f, G), double(G) / double(E));
        out.device = mul(sum(mul(f_dev, P_dev)), c.device_balance_coef() * inv_r);
      }
      if (c.comm_balance_coef() > 0) {
        const Tensor f_comm = constant(counts.f_comm, {R, G}, in.scores);
        out.comm = mul(sum(mul(f_comm, P_dev)), c.comm_balance_coef() * inv_r);
      }
    }
    if (c.sequence_balance_coef() > 0) {
      // s'_{i,t} = s_{i,t} / sum_j s_{j,t}; P_i = (1/T) sum_t s'_{i,t}
      const Tensor s_norm = div(s3, sum(s3, {2}, true));
      out.sequence = mul(sum(mul(f, mul(sum(s_norm, {1}), inv_t))), c.sequence_balance_coef() * inv_r);
    }
  }
  if (c.z_loss_coef() > 0) {
    // logsumexp_t = logit - log_softmax(logit) at any class (class 0).
    const Tensor lse = select(sub(in.logits, log_softmax(in.logits, -1)), 1, 0);
    out.z = mul(mean(mul(lse, lse)), c.z_loss_coef() * in.z_share);
  }
  return out;
}

}  // namespace moe::model
