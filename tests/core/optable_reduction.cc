// Op-table cases: amax, max, cumsum, softmax, log_softmax, cross_entropy.
#include "tests/core/op_table.h"

namespace moe::test {
namespace {

using V = std::vector<Tensor>;

// Targets with some rows equal to ignore_index (-100 unless given).
OpInput targets(std::vector<double> t, Shape s) {
  return const_in([t, s] { return from_vector(t, s, DType::i64); });
}

RegisterOps reg({
    // amax: randn inputs have no ties, so the gradient is a plain one-hot.
    {"amax/all", {randn_in({3, 4})}, [](const V& x) { return amax(x[0]); }},
    {"amax/dims_keepdim", {noncontig_in({2, 3, 4})}, [](const V& x) { return amax(x[0], {0, 2}, true); }},
    {"amax/mid", {randn_in({3, 4, 5})}, [](const V& x) { return amax(x[0], {1}); }},
    {"amax/expanded", {randn_in({3, 1})}, [](const V& x) { return amax(expand(x[0], {2, 3, 4}), {0, 1}); }},

    {"max/last", {randn_in({3, 5})}, [](const V& x) { return max(x[0], -1).values; }},
    {"max/dim0_keepdim", {noncontig_in({4, 3})}, [](const V& x) { return max(x[0], 0, true).values; }},
    {"max/mid", {randn_in({2, 5, 3})}, [](const V& x) { return max(x[0], 1).values; }},
    {"max/vector", {noncontig_in({6})}, [](const V& x) { return max(x[0], 0).values; }},
    {"max/large", {randn_in({40, 30, 50})}, [](const V& x) { return max(x[0], 1).values; }, false},

    {"cumsum/last", {randn_in({3, 5})}, [](const V& x) { return cumsum(x[0], -1); }},
    {"cumsum/dim0", {noncontig_in({4, 3})}, [](const V& x) { return cumsum(x[0], 0); }},
    {"cumsum/mid", {randn_in({2, 4, 3})}, [](const V& x) { return cumsum(x[0], 1); }},
    {"cumsum/expanded", {randn_in({4, 1})}, [](const V& x) { return cumsum(expand(x[0], {4, 3}), 0); }},
    {"cumsum/large", {randn_in({40, 50, 70})}, [](const V& x) { return cumsum(x[0], 1); }, false},

    {"softmax/last", {randn_in({3, 5})}, [](const V& x) { return softmax(x[0]); }},
    {"softmax/dim0", {noncontig_in({4, 6})}, [](const V& x) { return softmax(x[0], 0); }},
    {"softmax/mid", {randn_in({2, 3, 4})}, [](const V& x) { return softmax(x[0], 1); }},
    {"softmax/vector", {randn_in({7})}, [](const V& x) { return softmax(x[0]); }},
    {"softmax/wide", {randn_in({2, 300})}, [](const V& x) { return softmax(x[0]); }},
    {"softmax/expanded", {randn_in({3, 1})}, [](const V& x) { return softmax(expand(x[0], {2, 3, 4}), 1); }},
    {"softmax/large", {randn_in({64, 500})}, [](const V& x) { return softmax(x[0]); }, false},

    {"log_softmax/last", {randn_in({3, 5})}, [](const V& x) { return log_softmax(x[0]); }},
    {"log_softmax/dim0", {noncontig_in({4, 6})}, [](const V& x) { return log_softmax(x[0], 0); }},
    {"log_softmax/mid", {randn_in({2, 3, 4})}, [](const V& x) { return log_softmax(x[0], -2); }},
    {"log_softmax/wide", {randn_in({2, 64})}, [](const V& x) { return log_softmax(x[0]); }},
    {"log_softmax/expanded", {randn_in({4})}, [](const V& x) { return log_softmax(expand(x[0], {3, 4}), -1); }},
    {"log_softmax/large", {randn_in({64, 500})}, [](const V& x) { return log_softmax(x[0]); }, false},

    {"cross_entropy/mean_ignore",
     {randn_in({4, 5}), targets({1, -100, 4, 0}, {4})},
     [](const V& x) { return cross_entropy(x[0], x[1]); }},
    {"cross_entropy/sum_ignore",
     {randn_in({4, 5}), targets({3, 2, -100, 0}, {4})},
     [](const V& x) { return cross_entropy(x[0], x[1], -100, Reduction::sum); }},
    {"cross_entropy/none_ignore",
     {noncontig_in({5, 3}), targets({2, -100, 0, 1, -100}, {5})},
     [](const V& x) { return cross_entropy(x[0], x[1], -100, Reduction::none); }},
    {"cross_entropy/batched_mean",
     {randn_in({2, 3, 4}), index_in({2, 3}, 4)},
     [](const V& x) { return cross_entropy(x[0], x[1]); }},
    {"cross_entropy/class_ignored",
     {randn_in({3, 2, 6}), targets({2, 5, 2, 0, 1, 2}, {3, 2})},
     [](const V& x) { return cross_entropy(x[0], x[1], 2, Reduction::mean); }},
    {"cross_entropy/all_ignored",
     {randn_in({2, 3}), targets({-100, -100}, {2})},
     [](const V& x) { return cross_entropy(x[0], x[1]); }},
    {"cross_entropy/expanded_none",
     {randn_in({1, 4}), targets({3, 0, -100}, {3})},
     [](const V& x) { return cross_entropy(expand(x[0], {3, 4}), x[1], -100, Reduction::none); }},
    {"cross_entropy/large",
     {randn_in({300, 50}), index_in({300}, 50)},
     [](const V& x) { return cross_entropy(x[0], x[1]); },
     false},
});

}  // namespace
}  // namespace moe::test
