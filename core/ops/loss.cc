// Loss functions: cross_entropy (fused log_softmax + NLL) with its backward.
#include <string>

#include "core/backend/softmax.h"
#include "core/ops/op_utils.h"

namespace moe {

namespace {

// "[i, j, ...]": the multi-index of flat position k in shape s.
std::string index_str(int64_t k, const Shape& s) {
  Shape idx(s.size());
  for (size_t d = s.size(); d-- > 0;) {
    idx[d] = k % s[d];
    k /= s[d];
  }
  return shape_str(idx);
}

}  // namespace

// logits [..., C], target [...] (i32/i64). Rows whose target is ignore_index
// contribute no loss and get zero gradient; mean divides by the number of the
// other rows and is 0 when there are none (torch gives NaN there). Backward:
// (softmax(x) - onehot(t)) * g, divided by that count for mean.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index, Reduction reduction) {
  const char* name = "cross_entropy";
  check_defined(name, logits);
  check_defined(name, target);
  check_floating(name, logits);
  check_same_device(name, logits, target);
  MOE_CHECK(is_integral(target.dtype()), name, ": target must be i32 or i64, got ", target.str());
  MOE_CHECK(logits.dim() >= 1, name, ": logits need a class dim, got ", logits.str());
  const Shape lead(logits.shape().begin(), logits.shape().end() - 1);
  MOE_CHECK(target.shape() == lead, name, ": target ", target.str(), " does not match logits ", logits.str(),
            " (expected target shape ", shape_str(lead), ")");
  const int64_t C = logits.shape().back(), rows = shape_numel(lead);

  Tensor xc, tc;
  {
    NoGradGuard g;
    xc = contiguous(to_compute(logits.detach()));
    tc = contiguous(target.detach());
  }
  const Tensor bad_pos = empty({}, DType::i64, logits.device());
  backend::first_bad_target(tc, C, ignore_index, bad_pos);
  const int64_t bad = host_i64(bad_pos);  // host read: the check's answer, one i64
  MOE_CHECK(bad < 0, name, ": target ", host_i64_at(tc, bad), " at position ",
            index_str(bad, lead), " is out of range [0, ", C, ") for logits ", logits.str(),
            " (ignore_index ", ignore_index, ")");

  Tensor loss = empty(lead, xc.dtype(), logits.device());
  Tensor stats = empty({rows, 2}, xc.dtype(), logits.device());  // row max, log-sum-exp past it
  Tensor sums = empty({2}, DType::f64, logits.device());  // total loss, non-ignored rows
  backend::cross_entropy_rows(xc, tc, ignore_index, loss, stats, sums, rows, C);
  // Host read: the mean and its backward scale divide by the number of
  // non-ignored rows, a host value here (two f64 for a device tensor).
  const Tensor host_sums = host_copy(sums);
  const double total = host_sums.data<double>()[0];
  const int64_t count = int64_t(host_sums.data<double>()[1]);
  Tensor out;
  if (reduction == Reduction::none)
    out = from_compute(loss, logits.dtype());
  else if (reduction == Reduction::sum)
    out = scalar_tensor(total, logits.dtype(), logits.device());
  else
    out = scalar_tensor(count > 0 ? total / double(count) : 0.0, logits.dtype(), logits.device());

  if (needs_grad({logits})) {
    SavedTensor sx(logits, name), s_target(tc, name), s_stats(stats, name);
    const double scale = reduction != Reduction::mean ? 1.0 : count > 0 ? 1.0 / double(count) : 0.0;
    attach_grad_fn(name, {out}, {logits}, [=](std::vector<Tensor>& g) {
      Tensor x = sx.get();
      Tensor xc = contiguous(to_compute(x)), gc = contiguous(to_compute(g[0]));
      Tensor gx = empty(xc.shape(), xc.dtype(), x.device());
      backend::cross_entropy_rows_backward(xc, s_target.get(), s_stats.get(), gc, scale, ignore_index, gx, rows, C);
      return std::vector<Tensor>{from_compute(gx, x.dtype())};
    });
  }
  return out;
}

}  // namespace moe
