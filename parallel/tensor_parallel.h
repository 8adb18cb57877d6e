#pragma once
// Tensor-parallel pieces that are not plain matmuls: the vocab-parallel
// embedding and cross-entropy (Megatron-LM). The vocabulary is split in TP
// contiguous ranges; rank r owns ids [vocab_start, vocab_start + V/TP).
#include <cstdint>

#include "comm/communicator.h"
#include "core/tensor.h"

namespace moe::parallel {

// This rank's share of embedding(ids): rows of its own ids, zeros for the
// others. Summing over TP gives the full embedding (the caller reduces,
// e.g. reduce-scatter into the sequence-parallel layout).
Tensor vocab_parallel_embedding(const Tensor& weight_shard, const Tensor& ids, int64_t vocab_start);

// Mean cross-entropy over the rows of logits_shard [N, V/TP] (this rank's
// vocabulary columns) against global target ids [N]. Every TP rank returns
// the same value; each rank's backward gives its own columns' gradient
// (softmax - onehot) / N. Max, sum of exponentials and target logit are
// reduced over `tp`.
Tensor vocab_parallel_cross_entropy(comm::Communicator& tp, const Tensor& logits_shard, const Tensor& targets,
                                    int64_t vocab_start);

}  // namespace moe::parallel
