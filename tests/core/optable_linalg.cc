// Op-table cases: matmul (numpy semantics, broadcast batches, transposed
// views) and bmm.
#include "tests/core/op_table.h"

namespace moe::test {
namespace {

using V = std::vector<Tensor>;

RegisterOps reg({
    {"matmul/2d", {randn_in({3, 4}), randn_in({4, 5})}, [](const V& x) { return matmul(x[0], x[1]); }},
    {"matmul/vec_mat", {randn_in({4}), randn_in({4, 3})}, [](const V& x) { return matmul(x[0], x[1]); }},
    {"matmul/mat_vec", {randn_in({3, 4}), randn_in({4})}, [](const V& x) { return matmul(x[0], x[1]); }},
    {"matmul/vec_vec", {noncontig_in({4}), randn_in({4})}, [](const V& x) { return matmul(x[0], x[1]); }},
    {"matmul/batch_vec", {randn_in({2, 3, 4}), randn_in({4})}, [](const V& x) { return matmul(x[0], x[1]); }},
    {"matmul/vec_batch", {randn_in({4}), randn_in({2, 4, 3})}, [](const V& x) { return matmul(x[0], x[1]); }},
    // [2,3,4] @ [4,5]: a single folded GEMM forward and for dB.
    {"matmul/batch_shared_rhs", {randn_in({2, 3, 4}), randn_in({4, 5})},
     [](const V& x) { return matmul(x[0], x[1]); }},
    {"matmul/shared_lhs", {randn_in({3, 4}), randn_in({2, 4, 2})}, [](const V& x) { return matmul(x[0], x[1]); }},
    {"matmul/broadcast_batch", {randn_in({2, 1, 3, 4}), randn_in({3, 4, 2})},
     [](const V& x) { return matmul(x[0], x[1]); }},
    {"matmul/transposed_lhs", {noncontig_in({3, 4}), randn_in({4, 5})}, [](const V& x) { return matmul(x[0], x[1]); }},
    {"matmul/transposed_rhs", {randn_in({3, 4}), noncontig_in({4, 5})}, [](const V& x) { return matmul(x[0], x[1]); }},
    {"matmul/transposed_both_batched", {noncontig_in({2, 3, 4}), noncontig_in({2, 4, 5})},
     [](const V& x) { return matmul(x[0], x[1]); }},
    {"matmul/transposed_batch_shared_rhs", {noncontig_in({2, 3, 4}), noncontig_in({4, 2})},
     [](const V& x) { return matmul(x[0], x[1]); }},
    // Stride-0 rows: neither row- nor column-major, copied for BLAS.
    {"matmul/expanded_lhs", {randn_in({1, 4}), randn_in({4, 3})},
     [](const V& x) { return matmul(expand(x[0], {3, 4}), x[1]); }},
    {"matmul/large", {randn_in({70, 90}), randn_in({90, 80})}, [](const V& x) { return matmul(x[0], x[1]); }, false},
    {"bmm/basic", {randn_in({2, 3, 4}), randn_in({2, 4, 5})}, [](const V& x) { return bmm(x[0], x[1]); }},
    // Groups of 2, 0 and 3 rows (an expert that got no tokens).
    {"grouped_matmul/basic", {randn_in({5, 4}), randn_in({3, 4, 2})},
     [](const V& x) { return grouped_matmul(x[0], x[1], {2, 0, 3}); }},
    {"grouped_matmul/noncontig_x", {noncontig_in({6, 3}), noncontig_in({2, 3, 4})},
     [](const V& x) { return grouped_matmul(x[0], x[1], {4, 2}); }},
    {"grouped_matmul/large", {randn_in({300, 64}), randn_in({4, 64, 48})},
     [](const V& x) { return grouped_matmul(x[0], x[1], {100, 50, 0, 150}); }, false},
    {"bmm/transposed", {noncontig_in({2, 3, 4}), noncontig_in({2, 4, 2})}, [](const V& x) { return bmm(x[0], x[1]); }},
});

}  // namespace
}  // namespace moe::test
