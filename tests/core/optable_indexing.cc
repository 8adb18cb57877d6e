// Op-table cases: topk, sort, gather/scatter_add, index_select/index_add,
// one_hot/bincount (through a floating op), cat, split, stack.
#include "tests/core/op_table.h"

namespace moe::test {
namespace {

using V = std::vector<Tensor>;

// Fixed index tensor (with repeats where the op adds).
OpInput idx_in(std::vector<double> v, Shape s, DType t = DType::i64) {
  return const_in([=] { return from_vector(v, s, t); });
}

RegisterOps reg({
    {"topk/last", {randn_in({3, 6})}, [](const V& x) { return topk(x[0], 3).values; }},
    {"topk/noncontig_3d", {noncontig_in({2, 4, 5})}, [](const V& x) { return topk(x[0], 2).values; }},
    {"topk/all", {randn_in({7})}, [](const V& x) { return topk(x[0], 7).values; }},
    {"sort/asc_last", {randn_in({3, 5})}, [](const V& x) { return sort(x[0], -1, false).values; }},
    {"sort/desc_last", {noncontig_in({4, 3})}, [](const V& x) { return sort(x[0], -1, true).values; }},
    {"sort/asc_dim0", {noncontig_in({5, 3})}, [](const V& x) { return sort(x[0], 0, false).values; }},
    {"sort/desc_dim0_3d", {randn_in({4, 2, 3})}, [](const V& x) { return sort(x[0], 0, true).values; }},
    {"gather/dim0_smaller", {randn_in({4, 3}), index_in({2, 2}, 4)},
     [](const V& x) { return gather(x[0], 0, x[1]); }},
    {"gather/dim1_noncontig", {noncontig_in({3, 5}), index_in({3, 7}, 5)},
     [](const V& x) { return gather(x[0], 1, x[1]); }},
    {"gather/dim1_i32", {randn_in({2, 4}), idx_in({3, 3, 0, 1, 1, 2}, {2, 3}, DType::i32)},
     [](const V& x) { return gather(x[0], -1, x[1]); }},
    {"scatter_add/dim0_repeat",
     {randn_in({4, 3}), idx_in({0, 1, 0, 0, 1, 2, 3, 3, 0, 0, 0, 0, 1, 1, 1}, {5, 3}), randn_in({5, 3})},
     [](const V& x) { return scatter_add(x[0], 0, x[1], x[2]); }},
    {"scatter_add/dim1_src_larger", {noncontig_in({3, 4}), index_in({2, 6}, 4), randn_in({3, 7})},
     [](const V& x) { return scatter_add(x[0], 1, x[1], x[2]); }},
    {"scatter_add/noncontig_src", {randn_in({4, 3}), index_in({4, 3}, 4), noncontig_in({4, 3})},
     [](const V& x) { return scatter_add(x[0], 0, x[1], x[2]); }},
    {"index_select/dim0_repeat", {randn_in({5, 3}), idx_in({4, 0, 4, 2}, {4})},
     [](const V& x) { return index_select(x[0], 0, x[1]); }},
    {"index_select/dim1_noncontig", {noncontig_in({3, 4, 5}), index_in({6}, 4)},
     [](const V& x) { return index_select(x[0], 1, x[1]); }},
    {"index_add/dim0_repeat", {randn_in({4, 3}), idx_in({1, 3, 1, 1, 0}, {5}), randn_in({5, 3})},
     [](const V& x) { return index_add(x[0], 0, x[1], x[2]); }},
    {"index_add/dim1_noncontig", {noncontig_in({3, 4}), idx_in({2, 2, 0}, {3}, DType::i32), noncontig_in({3, 3})},
     [](const V& x) { return index_add(x[0], 1, x[1], x[2]); }},
    {"one_hot/mask", {randn_in({4, 5}), index_in({4}, 5)},
     [](const V& x) { return mul(x[0], cast(one_hot(x[1], 5), x[0].dtype())); }},
    {"bincount/weights", {randn_in({6}), index_in({10}, 6)},
     [](const V& x) { return mul(x[0], cast(bincount(x[1], 6), x[0].dtype())); }},
    {"cat/dim0", {randn_in({2, 3}), noncontig_in({4, 3}), randn_in({1, 3})},
     [](const V& x) { return cat({x[0], x[1], x[2]}, 0); }},
    {"cat/dim1", {randn_in({3, 2}), noncontig_in({3, 4}), randn_in({3, 1})},
     [](const V& x) { return cat({x[0], x[1], x[2]}, -1); }},
    {"split/dim1", {randn_in({3, 7})},
     [](const V& x) {
       V p = split(x[0], {2, 4, 1}, 1);
       return cat({mul(p[0], 2.0), mul(p[1], -0.5), mul(p[2], 3.0)}, 1);
     }},
    {"split/dim0_noncontig", {noncontig_in({5, 3})},
     [](const V& x) {
       V p = split(x[0], {3, 0, 2}, 0);
       return add(mul(p[0], p[0]).narrow(0, 0, 2), mul(p[2], 1.5));
     }},
    {"stack/dim0", {randn_in({2, 3}), noncontig_in({2, 3}), randn_in({2, 3})},
     [](const V& x) { return stack({x[0], x[1], x[2]}, 0); }},
    {"stack/dim_last", {randn_in({2, 3}), noncontig_in({2, 3}), randn_in({2, 3})},
     [](const V& x) { return stack({x[0], x[1], x[2]}, -1); }},
});

}  // namespace
}  // namespace moe::test
