// Op-table cases: rms_norm, rope, attention, embedding, dropout.
#include "tests/core/op_table.h"

namespace moe::test {
namespace {

using V = std::vector<Tensor>;

Tensor attention(const V& x, double scale = 0.0, int64_t window = 0) {
  return scaled_dot_product_attention(x[0], x[1], x[2], scale, window);
}

RegisterOps reg({
    {"rms_norm/basic", {randn_in({2, 3, 8}), uniform_in({8}, 0.5, 1.5)},
     [](const V& x) { return rms_norm(x[0], x[1], 1e-5); }},
    {"rms_norm/noncontig", {noncontig_in({4, 6}), randn_in({6})}, [](const V& x) { return rms_norm(x[0], x[1]); }},
    {"rms_norm/many_rows", {randn_in({40, 30, 3}), randn_in({3})}, [](const V& x) { return rms_norm(x[0], x[1]); },
     false},

    {"rope/half_split_offset", {randn_in({2, 3, 2, 8})},
     [](const V& x) { return rope(x[0], 10000.0, RopeStyle::half_split, 5); }},
    {"rope/interleaved_offset", {randn_in({2, 3, 2, 8})},
     [](const V& x) { return rope(x[0], 500.0, RopeStyle::interleaved, 3); }},
    {"rope/interleaved_partial", {randn_in({1, 4, 2, 6})},
     [](const V& x) { return rope(x[0], 10000.0, RopeStyle::interleaved, 2, 4); }},
    {"rope/half_split_partial_noncontig", {noncontig_in({1, 3, 10, 2})},
     [](const V& x) { return rope(permute(x[0], {0, 1, 3, 2}), 100.0, RopeStyle::half_split, 7, 6); }},

    {"attention/mha", {randn_in({2, 4, 2, 3}), randn_in({2, 4, 2, 3}), randn_in({2, 4, 2, 3})},
     [](const V& x) { return attention(x); }},
    {"attention/gqa", {randn_in({1, 5, 4, 3}), randn_in({1, 5, 2, 3}), randn_in({1, 5, 2, 2})},
     [](const V& x) { return attention(x); }},
    {"attention/window", {randn_in({1, 6, 2, 3}), randn_in({1, 6, 1, 3}), randn_in({1, 6, 1, 3})},
     [](const V& x) { return attention(x, 0.7, 2); }},
    {"attention/noncontig", {noncontig_in({2, 3, 3, 2}), randn_in({2, 3, 1, 2}), noncontig_in({2, 3, 1, 4})},
     [](const V& x) { return attention(x); }},
    {"attention/large", {randn_in({2, 33, 4, 16}), randn_in({2, 33, 2, 16}), randn_in({2, 33, 2, 16})},
     [](const V& x) { return attention(x, 0.0, 9); }, false},

    {"embedding/basic", {randn_in({7, 3}), index_in({2, 4}, 7)}, [](const V& x) { return embedding(x[0], x[1]); }},
    {"embedding/repeated_ids", {randn_in({3, 4}), const_in([] {
                                  return from_vector({2, 0, 2, 2, 1, 0}, {6}, DType::i32);
                                })},
     [](const V& x) { return embedding(x[0], x[1]); }},
    {"embedding/large", {randn_in({50, 300}), index_in({400}, 50)}, [](const V& x) { return embedding(x[0], x[1]); },
     false},

    {"dropout/p03", {randn_in({4, 6})}, [](const V& x) { return dropout(x[0], 0.3, 1234, 0); }},
    {"dropout/noncontig", {noncontig_in({3, 5})}, [](const V& x) { return dropout(x[0], 0.5, 77, 3); }},
    {"dropout/large", {randn_in({100, 300})}, [](const V& x) { return dropout(x[0], 0.1, 9, 1); }, false},
});

}  // namespace
}  // namespace moe::test
