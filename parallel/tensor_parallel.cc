#include "parallel/tensor_parallel.h"

#include "comm/collectives.h"
#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"

namespace moe::parallel {

namespace {

struct ShardIds {
  Tensor local;  // ids' dtype and shape
  Tensor mask;   // dtype, ids' shape
};
// Local ids (0 where the id is not this shard's) and a 0/1 mask of the ids
// this shard owns, as tensor ops on the ids' device (no host round trip).
ShardIds shard_ids(const Tensor& ids, int64_t start, int64_t rows, DType dtype) {
  const Tensor local = sub(ids, full({}, double(start), ids.dtype(), ids.device()));
  // below rows minus below 0: 1 exactly for 0 <= local < rows.
  const Tensor mask = sub(cast(lt(local, full({}, double(rows), ids.dtype(), ids.device())), dtype),
                          cast(lt(local, zeros({}, ids.dtype(), ids.device())), dtype));
  return {mul(local, cast(mask, ids.dtype())), mask};
}

}  // namespace

Tensor vocab_parallel_embedding(const Tensor& weight_shard, const Tensor& ids, int64_t vocab_start) {
  const ShardIds s = shard_ids(ids, vocab_start, weight_shard.size(0), weight_shard.dtype());
  return mul(embedding(weight_shard, s.local), unsqueeze(s.mask, -1));
}

Tensor vocab_parallel_cross_entropy(comm::Communicator& tp, const Tensor& logits_shard, const Tensor& targets,
                                    int64_t vocab_start) {
  MOE_CHECK(logits_shard.dim() == 2 && targets.dim() == 1 && targets.size(0) == logits_shard.size(0),
            "vocab_parallel_cross_entropy: logits ", logits_shard.str(), " and targets ", targets.str());
  // The global row max only shifts the exponentials: a constant, no gradient.
  Tensor row_max;
  {
    NoGradGuard no_grad;
    row_max = contiguous(amax(logits_shard.detach(), {1}, true));
    tp.all_reduce(row_max, comm::ReduceOp::max);
  }
  const Tensor z = sub(logits_shard, row_max);
  const Tensor sum_exp = comm::reduce_from_group(tp, sum(exp(z), {1}));
  const ShardIds s = shard_ids(targets, vocab_start, logits_shard.size(1), logits_shard.dtype());
  const Tensor z_target =
      comm::reduce_from_group(tp, mul(squeeze(gather(z, 1, unsqueeze(s.local, 1)), 1), s.mask));
  return mean(sub(log(sum_exp), z_target));
}

}  // namespace moe::parallel
