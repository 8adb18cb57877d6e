// Op-table cases: elementwise ops, views, sum/mean.
#include "tests/core/op_table.h"

namespace moe::test {
namespace {

using V = std::vector<Tensor>;

RegisterOps reg({
    {"add/same", {randn_in({3, 4}), randn_in({3, 4})}, [](const V& x) { return add(x[0], x[1]); }},
    {"add/broadcast", {randn_in({2, 3, 4}), randn_in({3, 1})}, [](const V& x) { return add(x[0], x[1]); }},
    {"add/noncontig", {noncontig_in({4, 5}), randn_in({5})}, [](const V& x) { return add(x[0], x[1]); }},
    {"add/scalar", {randn_in({7})}, [](const V& x) { return add(x[0], 2.5); }},
    {"sub/broadcast", {randn_in({4, 1}), noncontig_in({3, 4, 5})}, [](const V& x) { return sub(x[0], x[1]); }},
    {"mul/broadcast", {randn_in({2, 3, 4}), randn_in({4})}, [](const V& x) { return mul(x[0], x[1]); }},
    {"mul/scalar", {noncontig_in({3, 4})}, [](const V& x) { return mul(x[0], -1.5); }},
    {"div/broadcast", {randn_in({3, 4}), uniform_in({3, 1}, 0.5, 2.0)}, [](const V& x) { return div(x[0], x[1]); }},
    {"neg/noncontig", {noncontig_in({3, 4})}, [](const V& x) { return neg(x[0]); }},
    {"exp/basic", {randn_in({3, 4})}, [](const V& x) { return exp(x[0]); }},
    {"log/positive", {uniform_in({3, 4}, 0.5, 3.0)}, [](const V& x) { return log(x[0]); }},
    {"sqrt/positive", {uniform_in({3, 4}, 0.5, 3.0)}, [](const V& x) { return sqrt(x[0]); }},
    {"rsqrt/positive", {uniform_in({3, 4}, 0.5, 3.0)}, [](const V& x) { return rsqrt(x[0]); }},
    {"pow/cube", {randn_in({3, 4})}, [](const V& x) { return pow(x[0], 3.0); }},
    {"pow/fractional", {uniform_in({5}, 0.5, 2.0)}, [](const V& x) { return pow(x[0], 1.7); }},
    {"silu/basic", {randn_in({3, 5})}, [](const V& x) { return silu(x[0]); }},
    {"silu/noncontig", {noncontig_in({4, 3})}, [](const V& x) { return silu(x[0]); }},
    {"swiglu/basic", {randn_in({3, 5}), randn_in({3, 5})}, [](const V& x) { return swiglu(x[0], x[1]); }},
    {"swiglu/noncontig", {noncontig_in({4, 3}), randn_in({4, 3})}, [](const V& x) { return swiglu(x[0], x[1]); }},
    {"swiglu/large", {randn_in({70, 300}), randn_in({70, 300})}, [](const V& x) { return swiglu(x[0], x[1]); },
     false},
    {"gelu/basic", {randn_in({3, 5})}, [](const V& x) { return gelu(x[0]); }},
    {"sigmoid/basic", {randn_in({3, 5})}, [](const V& x) { return sigmoid(x[0]); }},
    {"tanh/basic", {randn_in({3, 5})}, [](const V& x) { return tanh(x[0]); }},
    {"relu/basic", {randn_in({3, 5})}, [](const V& x) { return relu(x[0]); }},
    {"abs/basic", {randn_in({6})}, [](const V& x) { return abs(x[0]); }},
    {"where/broadcast",
     {const_in([] { return gt(randn({3, 4}, 5, 0, DType::f32), zeros({1}, DType::f32)); }), randn_in({3, 4}),
      randn_in({4})},
     [](const V& x) { return where(x[0], x[1], x[2]); }},
    {"masked_fill/rowmask",
     {randn_in({3, 4}), const_in([] { return gt(randn({3, 1}, 6, 0, DType::f32), zeros({1}, DType::f32)); })},
     [](const V& x) { return masked_fill(x[0], x[1], -7.0); }},
    {"cast/f32", {randn_in({3, 4})}, [](const V& x) { return cast(cast(x[0], DType::f32), x[0].dtype()); }, false,
     false},
    {"view/merge", {randn_in({2, 3, 4})}, [](const V& x) { return mul(view(x[0], {6, 4}), 2.0); }},
    {"reshape/noncontig", {noncontig_in({3, 4})}, [](const V& x) { return mul(reshape(x[0], {12}), 2.0); }},
    {"permute/3d", {randn_in({2, 3, 4})}, [](const V& x) { return mul(permute(x[0], {2, 0, 1}), 2.0); }},
    {"narrow/mid", {randn_in({5, 3})}, [](const V& x) { return mul(narrow(x[0], 0, 1, 3), 2.0); }},
    {"slice/step", {randn_in({7, 2})}, [](const V& x) { return mul(slice(x[0], 0, 1, 7, 2), 2.0); }},
    {"select/dim1", {randn_in({3, 4, 2})}, [](const V& x) { return mul(select(x[0], 1, -1), 2.0); }},
    {"expand/broadcast", {randn_in({3, 1})}, [](const V& x) { return mul(expand(x[0], {2, 3, 4}), 2.0); }},
    {"unsqueeze_squeeze", {randn_in({3, 4})}, [](const V& x) { return squeeze(unsqueeze(x[0], 1), 1); }},
    {"contiguous/transposed", {noncontig_in({3, 4})}, [](const V& x) { return contiguous(x[0]); }},
    {"sum/all", {randn_in({3, 4})}, [](const V& x) { return sum(x[0]); }},
    {"sum/dims_keepdim", {noncontig_in({2, 3, 4})}, [](const V& x) { return sum(x[0], {0, 2}, true); }},
    {"sum/long_row", {randn_in({2, 20000})}, [](const V& x) { return sum(x[0], {1}); }, false},
    {"mean/dim", {randn_in({3, 4})}, [](const V& x) { return mean(x[0], {-1}); }},
});

}  // namespace
}  // namespace moe::test
