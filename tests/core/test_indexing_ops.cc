// Hand-checked values and error messages of the indexing ops.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/threading.h"

namespace moe {
namespace {

using D = std::vector<double>;

Tensor f32(D v, Shape s) { return from_vector(v, s, DType::f32); }
Tensor i64(D v, Shape s) { return from_vector(v, s, DType::i64); }

// The message of the moe::Error thrown by f ("" when none is thrown).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_ERROR_HAS(stmt, ...)                                      \
  do {                                                                   \
    const std::string msg = error_of([&] { (void)(stmt); });             \
    EXPECT_FALSE(msg.empty()) << #stmt << " did not throw moe::Error";   \
    for (const char* part : {__VA_ARGS__})                               \
      EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' not in: " << msg; \
  } while (0)

TEST(IndexingOps, TopkTiesGoToLowerIndex) {
  Tensor x = f32({1, 3, 3, 2, 3}, {5});
  ValuesIndices r = topk(x, 4);
  EXPECT_EQ(r.values.to_vector(), (D{3, 3, 3, 2}));
  EXPECT_EQ(r.indices.to_vector(), (D{1, 2, 4, 3}));
  EXPECT_EQ(r.indices.dtype(), DType::i64);
  r = topk(f32({5, 1, 5, 7, 1, 7}, {2, 3}), 2);  // rows
  EXPECT_EQ(r.values.shape(), (Shape{2, 2}));
  EXPECT_EQ(r.values.to_vector(), (D{5, 5, 7, 7}));
  EXPECT_EQ(r.indices.to_vector(), (D{0, 2, 0, 2}));
  EXPECT_EQ(topk(x, 0).values.shape(), (Shape{0}));
}

TEST(IndexingOps, TopkNaNCountsAsLargest) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  ValuesIndices r = topk(f32({1, nan, 2, nan}, {4}), 3);
  EXPECT_EQ(r.indices.to_vector(), (D{1, 3, 2}));
  EXPECT_TRUE(std::isnan(r.values.to_vector()[0]));
  EXPECT_EQ(r.values.to_vector()[2], 2.0);
  // ascending sort puts NaN last, descending first
  EXPECT_EQ(argsort(f32({nan, 1, 0}, {3})).to_vector(), (D{2, 1, 0}));
  EXPECT_EQ(argsort(f32({1, nan, 0}, {3}), -1, true).to_vector(), (D{1, 0, 2}));
}

TEST(IndexingOps, TopkBf16AndGradient) {
  Tensor x = f32({0.5, -1, 2, 0.25}, {4}).to(DType::bf16);
  ValuesIndices r = topk(x, 2);
  EXPECT_EQ(r.values.dtype(), DType::bf16);
  EXPECT_EQ(r.values.to_vector(), (D{2, 0.5}));
  Tensor y = f32({0.5, -1, 2, 0.25}, {4}).set_requires_grad(true);
  sum(mul(topk(y, 2).values, f32({3, 5}, {2}))).backward();
  EXPECT_EQ(y.grad().to_vector(), (D{5, 0, 3, 0}));
}

TEST(IndexingOps, SortIsStableAscendingAndDescending) {
  Tensor x = f32({2, 1, 2, 1, 0}, {5});
  ValuesIndices a = sort(x);
  EXPECT_EQ(a.values.to_vector(), (D{0, 1, 1, 2, 2}));
  EXPECT_EQ(a.indices.to_vector(), (D{4, 1, 3, 0, 2}));
  ValuesIndices d = sort(x, 0, true);
  EXPECT_EQ(d.values.to_vector(), (D{2, 2, 1, 1, 0}));
  EXPECT_EQ(d.indices.to_vector(), (D{0, 2, 1, 3, 4}));
  // dim 0 of a 2-D tensor, duplicates in column 1
  Tensor m = f32({3, 1, 1, 1, 2, 0}, {3, 2});
  ValuesIndices c = sort(m, 0);
  EXPECT_EQ(c.values.to_vector(), (D{1, 0, 2, 1, 3, 1}));
  EXPECT_EQ(c.indices.to_vector(), (D{1, 2, 2, 0, 0, 1}));
  // integer keys (e.g. expert ids) sort too
  EXPECT_EQ(argsort(from_vector({2, 0, 1, 0}, {4}, DType::i32)).to_vector(), (D{1, 3, 2, 0}));
}

TEST(IndexingOps, GatherAndScatterAddValues) {
  Tensor x = f32({1, 2, 3, 4}, {2, 2});
  EXPECT_EQ(gather(x, 1, i64({0, 0, 1, 0}, {2, 2})).to_vector(), (D{1, 1, 4, 3}));
  EXPECT_EQ(gather(x, 0, from_vector({1, 0}, {1, 2}, DType::i32)).to_vector(), (D{3, 2}));
  Tensor s = scatter_add(zeros({5}), 0, i64({0, 1, 0, 4, 0}, {5}), f32({1, 2, 3, 4, 5}, {5}));
  EXPECT_EQ(s.to_vector(), (D{9, 2, 0, 0, 4}));
  // integer scatter_add (e.g. counting tokens per expert)
  Tensor c = scatter_add(zeros({2, 3}, DType::i64), 1, i64({2, 2, 0, 1}, {2, 2}), i64({1, 1, 1, 1}, {2, 2}));
  EXPECT_EQ(c.to_vector(), (D{0, 0, 2, 1, 1, 0}));
}

TEST(IndexingOps, IndexSelectAndIndexAddValues) {
  Tensor x = f32({1, 2, 3, 4, 5, 6}, {3, 2});
  EXPECT_EQ(index_select(x, 0, i64({2, 0, 2}, {3})).to_vector(), (D{5, 6, 1, 2, 5, 6}));
  EXPECT_EQ(index_select(x, 1, from_vector({1}, {1}, DType::i32)).to_vector(), (D{2, 4, 6}));
  Tensor a = index_add(zeros({3, 2}), 0, i64({1, 1, 0}, {3}), f32({1, 2, 3, 4, 5, 6}, {3, 2}));
  EXPECT_EQ(a.to_vector(), (D{5, 6, 4, 6, 0, 0}));
  Tensor b = index_add(x.to(DType::bf16), 1, i64({0, 0}, {2}), ones({3, 2}, DType::bf16));
  EXPECT_EQ(b.dtype(), DType::bf16);
  EXPECT_EQ(b.to_vector(), (D{3, 2, 5, 4, 7, 6}));
}

TEST(IndexingOps, OneHotAndBincount) {
  Tensor oh = one_hot(i64({2, 0, 1, 2}, {2, 2}), 3);
  EXPECT_EQ(oh.dtype(), DType::i64);
  EXPECT_EQ(oh.shape(), (Shape{2, 2, 3}));
  EXPECT_EQ(oh.to_vector(), (D{0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1}));
  EXPECT_EQ(bincount(i64({1, 1, 3}, {3})).to_vector(), (D{0, 2, 0, 1}));
  EXPECT_EQ(bincount(i64({1, 1, 3}, {3}), 2).to_vector(), (D{0, 2, 0, 1}));
  EXPECT_EQ(bincount(from_vector({1, 1, 3}, {3}, DType::i32), 6).to_vector(), (D{0, 2, 0, 1, 0, 0}));
  EXPECT_EQ(bincount(i64({}, {0}), 3).to_vector(), (D{0, 0, 0}));
  EXPECT_EQ(bincount(i64({4}, {1})).dtype(), DType::i64);
}

TEST(IndexingOps, CatSplitStackValues) {
  Tensor a = f32({1, 2, 3, 4}, {2, 2}), b = f32({5, 6}, {2, 1});
  EXPECT_EQ(cat({a, b}, 1).to_vector(), (D{1, 2, 5, 3, 4, 6}));
  EXPECT_EQ(cat({a, transpose(a, 0, 1)}, 0).to_vector(), (D{1, 2, 3, 4, 1, 3, 2, 4}));
  Tensor h = cat({a.to(DType::bf16), a.to(DType::bf16)}, 0);
  EXPECT_EQ(h.dtype(), DType::bf16);
  EXPECT_EQ(h.shape(), (Shape{4, 2}));
  std::vector<Tensor> p = split(f32({1, 2, 3, 4, 5}, {5}), {2, 0, 3}, 0);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].to_vector(), (D{1, 2}));
  EXPECT_EQ(p[1].numel(), 0);
  EXPECT_EQ(p[2].to_vector(), (D{3, 4, 5}));
  Tensor s = stack({f32({1, 2}, {2}), f32({3, 4}, {2})}, 1);
  EXPECT_EQ(s.shape(), (Shape{2, 2}));
  EXPECT_EQ(s.to_vector(), (D{1, 3, 2, 4}));
}

TEST(IndexingOps, OutOfRangeErrorsNameOpValueAndPosition) {
  Tensor x = f32({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_THROW(gather(x, 1, i64({0, 7}, {1, 2})), Error);
  EXPECT_ERROR_HAS(gather(x, 1, i64({0, 7}, {1, 2})), "gather", "index 7", "[0, 1]", "[0, 3)");
  EXPECT_ERROR_HAS(gather(x, 0, i64({-1}, {1, 1})), "gather", "index -1", "[0, 0]", "[0, 2)");
  EXPECT_ERROR_HAS(scatter_add(x, 0, i64({0, 2}, {1, 2}), x), "scatter_add", "index 2", "[0, 1]", "[0, 2)");
  EXPECT_ERROR_HAS(index_select(x, 1, i64({1, 3, 0}, {3})), "index_select", "index 3", "[1]", "[0, 3)");
  EXPECT_ERROR_HAS(index_add(x, 0, from_vector({5}, {1}, DType::i32), f32({1, 1, 1}, {1, 3})), "index_add",
                   "index 5", "[0]", "[0, 2)");
  EXPECT_ERROR_HAS(one_hot(i64({0, 1, 4}, {3}), 4), "one_hot", "id 4", "[2]", "[0, 4)");
  EXPECT_ERROR_HAS(one_hot(i64({-2}, {1}), 4), "one_hot", "id -2", "[0, 4)");
  EXPECT_ERROR_HAS(bincount(i64({0, 3, -5}, {3})), "bincount", "-5", "[2]", "negative");
  EXPECT_ERROR_HAS(topk(x, 4), "topk", "k = 4", "[0, 3]");
  EXPECT_ERROR_HAS(topk(x, -1), "topk", "k = -1");
}

TEST(IndexingOps, ShapeAndDtypeErrorsNameOp) {
  Tensor x = f32({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_ERROR_HAS(gather(x, 1, x), "gather", "i32 or i64", "f32");
  EXPECT_ERROR_HAS(gather(x, 1, i64({0}, {1})), "gather", "[1]", "[2, 3]");
  EXPECT_ERROR_HAS(scatter_add(x, 1, i64({0, 0}, {1, 2}), x.to(DType::f64)), "scatter_add", "f32", "f64");
  EXPECT_ERROR_HAS(scatter_add(x, 1, i64({0, 0, 0, 0}, {1, 4}), x), "scatter_add", "[1, 4]", "[2, 3]");
  EXPECT_ERROR_HAS(index_select(x, 0, i64({0, 0}, {1, 2})), "index_select", "1-D");
  EXPECT_ERROR_HAS(index_add(x, 0, i64({0}, {1}), x), "index_add", "[2, 3]", "[1, 3]");
  EXPECT_ERROR_HAS(cat({x, f32({1, 2}, {1, 2})}, 0), "cat", "[1, 2]", "[2, 3]");
  EXPECT_ERROR_HAS(cat({x, x.to(DType::f64)}, 0), "cat", "f32", "f64");
  EXPECT_ERROR_HAS(stack({x, f32({1, 2}, {1, 2})}, 0), "stack", "[1, 2]", "[2, 3]");
  EXPECT_ERROR_HAS(split(x, {1, 1}, 1), "split", "sum to 2", "3");
  EXPECT_ERROR_HAS(bincount(i64({1, 2}, {1, 2})), "bincount", "1-D");
}

TEST(IndexingOps, EmptyShapesAndPartialGradients) {
  Tensor x = f32({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(sort(zeros({2, 0})).values.shape(), (Shape{2, 0}));
  EXPECT_EQ(gather(x, 1, i64({}, {2, 0})).shape(), (Shape{2, 0}));
  EXPECT_EQ(index_select(x, 0, i64({}, {0})).shape(), (Shape{0, 3}));
  EXPECT_EQ(index_add(x, 0, i64({}, {0}), zeros({0, 3})).to_vector(), x.to_vector());
  EXPECT_EQ(scatter_add(x, 1, i64({}, {2, 0}), x).to_vector(), x.to_vector());
  EXPECT_EQ(cat({x, zeros({0, 3})}, 0).to_vector(), x.to_vector());
  EXPECT_EQ(one_hot(i64({}, {0}), 3).shape(), (Shape{0, 3}));
  EXPECT_EQ(stack({scalar_tensor(1), scalar_tensor(2)}, 0).to_vector(), (D{1, 2}));
  // only some inputs of cat need a gradient
  Tensor a = f32({1, 2}, {2}).set_requires_grad(true);
  sum(mul(cat({a, f32({3}, {1})}, 0), f32({1, 2, 3}, {3}))).backward();
  EXPECT_EQ(a.grad().to_vector(), (D{1, 2}));
}

// Colliding writes at sizes where the work really is split over threads.
TEST(IndexingOps, AccumulationIsThreadCountIndependent) {
  Tensor x = randn({64, 512}, 1, 0);
  Tensor src = randn({3000, 512}, 2, 0);
  Tensor rows = from_vector([] {
    D v(3000);
    for (size_t i = 0; i < v.size(); ++i) v[i] = double((i * 37) % 64);
    return v;
  }(), {3000}, DType::i64);
  Tensor idx2 = contiguous(expand(unsqueeze(rows, 1), {3000, 512}));
  const int saved = num_threads();
  std::vector<std::vector<double>> r;
  for (int t : {1, 2, 4}) {
    set_num_threads(t);
    r.push_back(index_add(x, 0, rows, src).to_vector());
    r.push_back(scatter_add(x, 0, idx2, src).to_vector());
  }
  set_num_threads(saved);
  for (size_t i = 2; i < r.size(); ++i) EXPECT_EQ(r[i], r[i % 2]) << i;
  EXPECT_EQ(r[0], r[1]);  // same sums, same order
}

}  // namespace
}  // namespace moe
