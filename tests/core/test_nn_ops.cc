// Value tests of matmul/bmm and the neural-network ops against naive
// reference implementations written here (the op table checks gradients).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <sstream>
#include <string>

#include "core/autograd.h"
#include "core/cpu/gemm.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/threading.h"
#include "core/random.h"

namespace moe {
namespace {

using Vec = std::vector<double>;

void expect_near_all(const Vec& got, const Vec& want, double tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], tol * std::max(1.0, std::abs(want[i]))) << what << " element " << i;
    if (std::abs(got[i] - want[i]) > tol * std::max(1.0, std::abs(want[i]))) return;
  }
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  Tensor x = contiguous(a), y = contiguous(b);
  return x.shape() == y.shape() && x.dtype() == y.dtype() &&
         std::memcmp(x.raw_data(), y.raw_data(), size_t(x.numel()) * dtype_size(x.dtype())) == 0;
}

// Runs f and returns the moe::Error message it throws ("" if none).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// ---------------- matmul ----------------

// [M, K] @ [K, N] on row-major logical values.
Vec naive_mm(const Vec& a, const Vec& b, int64_t M, int64_t K, int64_t N) {
  Vec c(size_t(M * N), 0.0);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j)
      for (int64_t k = 0; k < K; ++k) c[size_t(i * N + j)] += a[size_t(i * K + k)] * b[size_t(k * N + j)];
  return c;
}

// [M, K] as a plain tensor or as the transposed view of a [K, M] one.
Tensor maybe_transposed(int64_t rows, int64_t cols, bool trans, uint64_t seed, DType t) {
  return trans ? transpose(randn({cols, rows}, seed, 0, t), 0, 1) : randn({rows, cols}, seed, 0, t);
}

TEST(NnOps, MatmulTransposeCombosNoCopies) {
  const int64_t M = 5, K = 7, N = 3;
  for (DType dt : {DType::f64, DType::f32}) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        const std::string what = std::string(ta ? "a^T" : "a") + (tb ? " @ b^T" : " @ b");
        Tensor a = maybe_transposed(M, K, ta, 1, dt), b = maybe_transposed(K, N, tb, 2, dt);
        ASSERT_TRUE(cpu::blas_layout(a).has_value());
        EXPECT_EQ(cpu::blas_layout(a)->trans, ta) << what;
        EXPECT_EQ(cpu::blas_layout(b)->trans, tb) << what;
        a.set_requires_grad(true);
        b.set_requires_grad(true);
        const int64_t copies = cpu::matmul_operand_copies();
        Tensor c = matmul(a, b);
        ASSERT_EQ(c.shape(), (Shape{M, N}));
        const double tol = dt == DType::f64 ? 1e-12 : 1e-5;
        expect_near_all(c.to_vector(), naive_mm(a.to_vector(), b.to_vector(), M, K, N), tol, what);
        // Backward multiplies by transposed views of a, b and g: no copies either.
        Tensor g = randn({M, N}, 3, 0, dt);
        c.backward(g);
        EXPECT_EQ(cpu::matmul_operand_copies(), copies) << what << ": an operand was copied";
        const Vec bt = transpose(b, 0, 1).to_vector(), at = transpose(a, 0, 1).to_vector();
        expect_near_all(a.grad().to_vector(), naive_mm(g.to_vector(), bt, M, N, K), tol, what + " dA");
        expect_near_all(b.grad().to_vector(), naive_mm(at, g.to_vector(), K, M, N), tol, what + " dB");
      }
    }
  }
}

TEST(NnOps, MatmulCopiesOnlyUnreadableOperands) {
  Tensor a = expand(randn({1, 4}, 1, 0, DType::f64), {3, 4});  // stride-0 rows
  Tensor b = slice(randn({4, 6}, 2, 0, DType::f64), 1, 0, 6, 2);  // column step 2
  EXPECT_FALSE(cpu::blas_layout(a).has_value());
  EXPECT_FALSE(cpu::blas_layout(b).has_value());
  const int64_t copies = cpu::matmul_operand_copies();
  Tensor c = matmul(a, b);
  EXPECT_EQ(cpu::matmul_operand_copies(), copies + 2);
  expect_near_all(c.to_vector(), naive_mm(a.to_vector(), b.to_vector(), 3, 4, 3), 1e-12, "expanded @ strided");
  // A row of a wider matrix (row stride > K) and a strided vector go as they are.
  Tensor wide = narrow(randn({3, 9}, 3, 0, DType::f64), 1, 2, 4);
  Tensor v = slice(randn({8}, 4, 0, DType::f64), 0, 0, 8, 2);
  const int64_t before = cpu::matmul_operand_copies();
  Tensor wv = matmul(wide, v);
  EXPECT_EQ(cpu::matmul_operand_copies(), before);
  expect_near_all(wv.to_vector(), naive_mm(wide.to_vector(), v.to_vector(), 3, 4, 1), 1e-12, "wide @ strided vec");
}

TEST(NnOps, MatmulOneDimAndBatched) {
  const DType f = DType::f64;
  Tensor v = randn({4}, 1, 0, f), m = randn({4, 3}, 2, 0, f), m2 = randn({5, 4}, 3, 0, f);
  EXPECT_EQ(matmul(v, m).shape(), (Shape{3}));
  expect_near_all(matmul(v, m).to_vector(), naive_mm(v.to_vector(), m.to_vector(), 1, 4, 3), 1e-12, "vec@mat");
  EXPECT_EQ(matmul(m2, v).shape(), (Shape{5}));
  expect_near_all(matmul(m2, v).to_vector(), naive_mm(m2.to_vector(), v.to_vector(), 5, 4, 1), 1e-12, "mat@vec");
  Tensor dot = matmul(v, v);
  EXPECT_EQ(dot.dim(), 0);
  expect_near_all(dot.to_vector(), naive_mm(v.to_vector(), v.to_vector(), 1, 4, 1), 1e-12, "vec@vec");

  // [2, 1, 3, 4] @ [3, 4, 5] -> [2, 3, 3, 5]: a's dim 1 and b's missing dim broadcast.
  Tensor a = randn({2, 1, 3, 4}, 4, 0, f), b = randn({3, 4, 5}, 5, 0, f);
  Tensor c = matmul(a, b);
  ASSERT_EQ(c.shape(), (Shape{2, 3, 3, 5}));
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j)
      expect_near_all(select(select(c, 0, i), 0, j).to_vector(),
                      naive_mm(select(select(a, 0, i), 0, 0).to_vector(), select(b, 0, j).to_vector(), 3, 4, 5),
                      1e-12, "broadcast batch");
  Tensor bv = matmul(randn({2, 3, 4}, 6, 0, f), v);
  EXPECT_EQ(bv.shape(), (Shape{2, 3}));
  EXPECT_EQ(matmul(v, randn({2, 4, 3}, 7, 0, f)).shape(), (Shape{2, 3}));

  // Folded [3, 5, 7] @ [7, 4] and bmm against per-batch products.
  Tensor x = randn({3, 5, 7}, 8, 0, f), w = randn({7, 4}, 9, 0, f), y = randn({3, 7, 4}, 10, 0, f);
  Tensor xw = matmul(x, w), xy = bmm(x, y);
  for (int64_t i = 0; i < 3; ++i) {
    expect_near_all(select(xw, 0, i).to_vector(), naive_mm(select(x, 0, i).to_vector(), w.to_vector(), 5, 7, 4),
                    1e-12, "folded batch");
    expect_near_all(select(xy, 0, i).to_vector(),
                    naive_mm(select(x, 0, i).to_vector(), select(y, 0, i).to_vector(), 5, 7, 4), 1e-12, "bmm");
  }
}

TEST(NnOps, MatmulLowPrecisionComputesInF32) {
  Tensor a = cast(randn({6, 5}, 1), DType::bf16), b = cast(randn({5, 4}, 2), DType::bf16);
  Tensor c = matmul(a, b);
  EXPECT_EQ(c.dtype(), DType::bf16);
  Tensor ref = cast(matmul(cast(a, DType::f32), cast(b, DType::f32)), DType::bf16);
  EXPECT_TRUE(bitwise_equal(c, ref));
}

// Forward and gradients of f, bitwise, with 1, 2 and 3 threads.
void expect_thread_independent(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                               const std::vector<Shape>& shapes, const std::string& what) {
  const int saved = num_threads();
  std::vector<std::vector<Tensor>> results;
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    std::vector<Tensor> in;
    for (size_t i = 0; i < shapes.size(); ++i) in.push_back(randn(shapes[i], 100 + i).set_requires_grad(true));
    Tensor out = f(in);
    out.backward(randn(out.shape(), 7));
    std::vector<Tensor> r{out.detach()};
    for (auto& x : in) r.push_back(x.grad());
    results.push_back(r);
  }
  set_num_threads(saved);
  for (size_t t = 1; t < results.size(); ++t)
    for (size_t i = 0; i < results[0].size(); ++i)
      EXPECT_TRUE(bitwise_equal(results[0][i], results[t][i]))
          << what << ": result " << i << " differs between 1 and " << t + 1 << " threads";
}

TEST(NnOps, MatmulDeterministicAcrossThreads) {
  using V = std::vector<Tensor>;
  expect_thread_independent([](const V& x) { return matmul(x[0], x[1]); }, {{300, 257}, {257, 190}}, "2d");
  expect_thread_independent([](const V& x) { return matmul(x[0], transpose(x[1], 0, 1)); }, {{130, 700}, {90, 700}},
                            "long K, transposed b");
  expect_thread_independent([](const V& x) { return matmul(x[0], x[1]); }, {{1000}, {1000, 500}}, "vec@mat");
  expect_thread_independent([](const V& x) { return matmul(x[0], x[1]); }, {{3, 100, 200}, {200, 150}}, "folded");
  expect_thread_independent([](const V& x) { return bmm(x[0], x[1]); }, {{4, 70, 65}, {4, 65, 80}}, "bmm");
}

TEST(NnOps, MatmulErrorsNameShapes) {
  std::string msg = error_of([] { matmul(zeros({2, 3}), zeros({4, 5})); });
  EXPECT_NE(msg.find("matmul: inner dims differ"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2, 3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[4, 5]"), std::string::npos) << msg;
  msg = error_of([] { matmul(zeros({2, 3}), zeros({3, 5}, DType::f64)); });
  EXPECT_NE(msg.find("matmul: dtype mismatch"), std::string::npos) << msg;
  msg = error_of([] { bmm(zeros({2, 3, 4}), zeros({3, 4, 5})); });
  EXPECT_NE(msg.find("bmm"), std::string::npos) << msg;
  EXPECT_NE(error_of([] { matmul(zeros({}), zeros({3})); }), "");
}

// The fused SwiGLU product against its two-op form, values and gradients.
TEST(NnOps, SwigluMatchesSiluTimesUp) {
  for (DType t : {DType::f64, DType::f32}) {
    Tensor a = randn({37, 29}, 31, 0, t).set_requires_grad(true), b = randn({37, 29}, 32, 0, t).set_requires_grad(true);
    Tensor a2 = a.detach().set_requires_grad(true), b2 = b.detach().set_requires_grad(true);
    const Tensor g = randn({37, 29}, 33, 0, t);
    Tensor y = swiglu(a, b), y2 = mul(silu(a2), b2);
    y.backward(g);
    y2.backward(g);
    const double tol = t == DType::f64 ? 1e-14 : 1e-6;
    const std::string what = t == DType::f64 ? "f64" : "f32";
    expect_near_all(y.to_vector(), y2.to_vector(), tol, what + " out");
    expect_near_all(a.grad().to_vector(), a2.grad().to_vector(), tol, what + " dgate");
    expect_near_all(b.grad().to_vector(), b2.grad().to_vector(), tol, what + " dup");
  }
  EXPECT_NE(error_of([] { swiglu(zeros({2, 3}), zeros({3, 2})); }).find("one shape"), std::string::npos);
}

// ---------------- attention ----------------

struct AttnShape {
  int64_t B, T, H, Hkv, Dh, Dv;
};

// Explicit per-row masked softmax.
Vec naive_attention(const Vec& q, const Vec& k, const Vec& v, const AttnShape& s, double scale, int64_t window) {
  Vec out(size_t(s.B * s.T * s.H * s.Dv), 0.0);
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t h = 0; h < s.H; ++h) {
      const int64_t kh = h / (s.H / s.Hkv);
      for (int64_t i = 0; i < s.T; ++i) {
        Vec p(size_t(s.T), 0.0);
        double mx = -INFINITY, total = 0;
        for (int64_t j = 0; j <= i; ++j) {
          if (window > 0 && j <= i - window) continue;
          double d = 0;
          for (int64_t c = 0; c < s.Dh; ++c)
            d += q[size_t(((b * s.T + i) * s.H + h) * s.Dh + c)] * k[size_t(((b * s.T + j) * s.Hkv + kh) * s.Dh + c)];
          p[size_t(j)] = d * scale;
          mx = std::max(mx, p[size_t(j)]);
        }
        for (int64_t j = 0; j <= i; ++j) {
          if (window > 0 && j <= i - window) continue;
          p[size_t(j)] = std::exp(p[size_t(j)] - mx);
          total += p[size_t(j)];
        }
        for (int64_t j = 0; j <= i; ++j) {
          if (window > 0 && j <= i - window) continue;
          for (int64_t c = 0; c < s.Dv; ++c)
            out[size_t(((b * s.T + i) * s.H + h) * s.Dv + c)] +=
                p[size_t(j)] / total * v[size_t(((b * s.T + j) * s.Hkv + kh) * s.Dv + c)];
        }
      }
    }
  return out;
}

// The same attention composed of core ops (matmul, where, exp, sum, div).
Tensor composite_attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale, int64_t window) {
  const int64_t B = q.size(0), T = q.size(1), H = q.size(2), Hkv = k.size(2), G = H / Hkv;
  auto heads = [&](const Tensor& x) {  // [B, T, Hkv, D] -> [B, H, T, D], kv heads repeated
    Tensor p = permute(x, {0, 2, 1, 3});
    Tensor r = expand(unsqueeze(p, 2), {B, Hkv, G, T, x.size(3)});
    return reshape(r, {B, H, T, x.size(3)});
  };
  Tensor qh = permute(q, {0, 2, 1, 3});
  Tensor s = mul(matmul(qh, transpose(heads(k), -1, -2)), scale);  // [B, H, T, T]
  Vec mask(size_t(T * T), 0.0);
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j <= i; ++j) mask[size_t(i * T + j)] = (window == 0 || j > i - window) ? 1.0 : 0.0;
  Tensor keep = gt(from_vector(mask, {T, T}, q.dtype()), zeros({}, q.dtype()));
  Tensor e = where(keep, exp(s), zeros({}, q.dtype()));
  Tensor p = div(e, sum(e, {-1}, true));
  return permute(matmul(p, heads(v)), {0, 2, 1, 3});
}

TEST(NnOps, AttentionMatchesNaiveAndComposite) {
  struct Case {
    AttnShape s;
    double scale;
    int64_t window;
  };
  // The last four cross the kernel's 6-row blocks and 16-key chunks: head
  // dims that are and are not multiples of 16, windows that start mid-chunk.
  for (const Case& c : {Case{{2, 5, 2, 2, 4, 4}, 0.0, 0}, Case{{1, 6, 4, 2, 3, 5}, 0.0, 0},
                        Case{{2, 7, 4, 1, 4, 2}, 0.4, 3}, Case{{1, 4, 2, 2, 2, 2}, 1.3, 1},
                        Case{{1, 70, 4, 2, 32, 32}, 0.0, 0}, Case{{1, 45, 2, 1, 20, 24}, 0.0, 19},
                        Case{{2, 17, 2, 2, 16, 40}, 0.3, 0}, Case{{1, 38, 3, 3, 9, 16}, 0.0, 5}}) {
    const AttnShape& s = c.s;
    std::ostringstream os;
    os << "B" << s.B << " T" << s.T << " H" << s.H << " Hkv" << s.Hkv << " window " << c.window;
    const std::string what = os.str();
    Tensor q = randn({s.B, s.T, s.H, s.Dh}, 1, 0, DType::f64).set_requires_grad(true);
    Tensor k = randn({s.B, s.T, s.Hkv, s.Dh}, 2, 0, DType::f64).set_requires_grad(true);
    Tensor v = randn({s.B, s.T, s.Hkv, s.Dv}, 3, 0, DType::f64).set_requires_grad(true);
    const double scale = c.scale > 0 ? c.scale : 1.0 / std::sqrt(double(s.Dh));
    Tensor out = scaled_dot_product_attention(q, k, v, c.scale, c.window);
    ASSERT_EQ(out.shape(), (Shape{s.B, s.T, s.H, s.Dv}));
    expect_near_all(out.to_vector(), naive_attention(q.to_vector(), k.to_vector(), v.to_vector(), s, scale, c.window),
                    1e-12, what);
    Tensor g = randn(out.shape(), 4, 0, DType::f64);
    out.backward(g);
    Tensor q2 = q.detach().set_requires_grad(true), k2 = k.detach().set_requires_grad(true),
           v2 = v.detach().set_requires_grad(true);
    Tensor ref = composite_attention(q2, k2, v2, scale, c.window);
    expect_near_all(out.to_vector(), ref.to_vector(), 1e-12, what + " composite");
    ref.backward(g);
    expect_near_all(q.grad().to_vector(), q2.grad().to_vector(), 1e-10, what + " dq");
    expect_near_all(k.grad().to_vector(), k2.grad().to_vector(), 1e-10, what + " dk");
    expect_near_all(v.grad().to_vector(), v2.grad().to_vector(), 1e-10, what + " dv");
  }
}

// The f32 kernel (the one training runs) against the f64 one at the dense
// reference's head shape, forward and all three gradients.
TEST(NnOps, AttentionF32MatchesF64) {
  const AttnShape s{3, 64, 4, 2, 32, 32};
  Tensor q = randn({s.B, s.T, s.H, s.Dh}, 11, 0, DType::f64), k = randn({s.B, s.T, s.Hkv, s.Dh}, 12, 0, DType::f64),
         v = randn({s.B, s.T, s.Hkv, s.Dv}, 13, 0, DType::f64), g = randn({s.B, s.T, s.H, s.Dv}, 14, 0, DType::f64);
  for (int64_t window : {int64_t(0), int64_t(23)}) {
    std::vector<Tensor> in64{q.clone().set_requires_grad(true), k.clone().set_requires_grad(true),
                             v.clone().set_requires_grad(true)};
    std::vector<Tensor> in32{q.to(DType::f32).set_requires_grad(true), k.to(DType::f32).set_requires_grad(true),
                             v.to(DType::f32).set_requires_grad(true)};
    Tensor o64 = scaled_dot_product_attention(in64[0], in64[1], in64[2], 0.0, window);
    Tensor o32 = scaled_dot_product_attention(in32[0], in32[1], in32[2], 0.0, window);
    o64.backward(g);
    o32.backward(g.to(DType::f32));
    const std::string what = "window " + std::to_string(window);
    expect_near_all(o32.to_vector(), o64.to_vector(), 2e-6, what + " out");
    const char* names[] = {"dq", "dk", "dv"};
    for (int t = 0; t < 3; ++t)
      expect_near_all(in32[size_t(t)].grad().to_vector(), in64[size_t(t)].grad().to_vector(), 2e-5,
                      what + " " + names[t]);
  }
}

// Data and expert parallelism split the batch, tensor parallelism the heads:
// each (batch, head) must come out bitwise the same whatever else is in the
// call, forward and backward.
TEST(NnOps, AttentionIsBitwiseTheSameOnABatchAndHeadSlice) {
  const int64_t B = 4, T = 40, H = 4, D = 32;
  const Tensor q = randn({B, T, H, D}, 21), k = randn({B, T, H, D}, 22), v = randn({B, T, H, D}, 23),
               g = randn({B, T, H, D}, 24);
  auto run = [&](int64_t b0, int64_t nb, int64_t h0, int64_t nh) {
    auto part = [&](const Tensor& x) { return contiguous(narrow(narrow(x, 0, b0, nb), 2, h0, nh)); };
    Tensor qs = part(q).set_requires_grad(true), ks = part(k).set_requires_grad(true),
           vs = part(v).set_requires_grad(true);
    Tensor o = scaled_dot_product_attention(qs, ks, vs);
    o.backward(part(g));
    return std::vector<Tensor>{o, qs.grad(), ks.grad(), vs.grad()};
  };
  const std::vector<Tensor> full = run(0, B, 0, H), part = run(1, 2, 2, 2);
  for (size_t t = 0; t < full.size(); ++t)
    EXPECT_TRUE(bitwise_equal(contiguous(narrow(narrow(full[t], 0, 1, 2), 2, 2, 2)), part[t])) << "output " << t;
}

TEST(NnOps, AttentionErrors) {
  auto attn = [](Shape q, Shape k, Shape v) {
    return error_of([&] { scaled_dot_product_attention(zeros(q), zeros(k), zeros(v)); });
  };
  std::string msg = attn({1, 2, 3, 4}, {1, 2, 2, 4}, {1, 2, 2, 4});
  EXPECT_NE(msg.find("query heads 3 not divisible by kv heads 2"), std::string::npos) << msg;
  msg = attn({1, 2, 2, 4}, {1, 3, 2, 4}, {1, 3, 2, 4});
  EXPECT_NE(msg.find("scaled_dot_product_attention"), std::string::npos) << msg;
  msg = attn({1, 2, 2, 4}, {1, 2, 2, 3}, {1, 2, 2, 4});
  EXPECT_NE(msg.find("head dim"), std::string::npos) << msg;
}

// ---------------- rope ----------------

TEST(NnOps, RopeHandComputed) {
  // x [1, 2, 1, 4] = 1..8, base 100, positions 1 and 2 (offset 1): theta_0 = 1,
  // theta_1 = 100^(-2/4) = 0.1.
  Tensor x = from_vector({1, 2, 3, 4, 5, 6, 7, 8}, {1, 2, 1, 4}, DType::f64);
  Vec half, inter, partial;
  for (int t = 0; t < 2; ++t) {
    const double p = 1 + t, x0 = 1 + 4 * t, x1 = x0 + 1, x2 = x0 + 2, x3 = x0 + 3;
    const double c0 = std::cos(p), s0 = std::sin(p), c1 = std::cos(0.1 * p), s1 = std::sin(0.1 * p);
    // half_split pairs (0, 2), (1, 3)
    half.insert(half.end(), {x0 * c0 - x2 * s0, x1 * c1 - x3 * s1, x0 * s0 + x2 * c0, x1 * s1 + x3 * c1});
    // interleaved pairs (0, 1), (2, 3)
    inter.insert(inter.end(), {x0 * c0 - x1 * s0, x0 * s0 + x1 * c0, x2 * c1 - x3 * s1, x2 * s1 + x3 * c1});
    // rot_dim 2: only pair (0, 1) with theta_0 = 1; dims 2, 3 pass through
    partial.insert(partial.end(), {x0 * c0 - x1 * s0, x0 * s0 + x1 * c0, x2, x3});
  }
  expect_near_all(rope(x, 100.0, RopeStyle::half_split, 1).to_vector(), half, 1e-14, "half_split");
  expect_near_all(rope(x, 100.0, RopeStyle::interleaved, 1).to_vector(), inter, 1e-14, "interleaved");
  expect_near_all(rope(x, 100.0, RopeStyle::interleaved, 1, 2).to_vector(), partial, 1e-14, "rot_dim 2");
}

TEST(NnOps, RopeOffsetAndInverse) {
  Tensor x = randn({2, 6, 3, 8}, 1);
  for (RopeStyle style : {RopeStyle::half_split, RopeStyle::interleaved}) {
    // Position offset = rotating a later slice of a longer sequence.
    Tensor full = rope(x, 10000.0, style, 0, 6);
    Tensor tail = rope(narrow(x, 1, 2, 4), 10000.0, style, 2, 6);
    EXPECT_TRUE(bitwise_equal(tail, narrow(full, 1, 2, 4)));
    // The gradient is the inverse rotation: rotating it forward gives g back.
    Tensor xr = x.detach().set_requires_grad(true);
    Tensor g = randn(x.shape(), 2);
    rope(xr, 10000.0, style, 3).backward(g);
    expect_near_all(rope(xr.grad(), 10000.0, style, 3).to_vector(), g.to_vector(), 1e-5, "inverse");
  }
  EXPECT_NE(error_of([&] { rope(x, 10000.0, RopeStyle::half_split, 0, 5); }).find("rot_dim"), std::string::npos);
  EXPECT_NE(error_of([] { rope(zeros({2, 3, 4}), 10000.0); }).find("rope"), std::string::npos);
}

// ---------------- rms_norm ----------------

Vec naive_rms_norm(const Vec& x, const Vec& w, int64_t D, double eps) {
  Vec y(x.size());
  for (size_t r = 0; r < x.size() / size_t(D); ++r) {
    double ss = 0;
    for (int64_t j = 0; j < D; ++j) ss += x[r * D + j] * x[r * D + j];
    const double rs = 1.0 / std::sqrt(ss / double(D) + eps);
    for (int64_t j = 0; j < D; ++j) y[r * D + j] = x[r * D + j] * rs * w[size_t(j)];
  }
  return y;
}

TEST(NnOps, RmsNormMatchesFormula) {
  for (DType dt : {DType::f64, DType::f32}) {
    const double tol = dt == DType::f64 ? 1e-12 : 1e-5;
    Tensor x = randn({3, 4, 16}, 1, 0, dt), w = randn({16}, 2, 0, dt);
    expect_near_all(rms_norm(x, w, 1e-5).to_vector(), naive_rms_norm(x.to_vector(), w.to_vector(), 16, 1e-5), tol,
                    "contiguous");
    Tensor xt = transpose(randn({16, 5}, 3, 0, dt), 0, 1);  // [5, 16], column-major
    expect_near_all(rms_norm(xt, w).to_vector(), naive_rms_norm(xt.to_vector(), w.to_vector(), 16, 1e-6), tol,
                    "transposed");
  }
  Tensor xb = cast(randn({4, 8}, 4), DType::bf16), wb = cast(randn({8}, 5), DType::bf16);
  Tensor yb = rms_norm(xb, wb);
  EXPECT_EQ(yb.dtype(), DType::bf16);
  expect_near_all(yb.to_vector(), naive_rms_norm(xb.to_vector(), wb.to_vector(), 8, 1e-6), 1e-2, "bf16");
}

TEST(NnOps, RmsNormGradientMatchesComposite) {
  Tensor x = randn({5, 3, 7}, 1, 0, DType::f64).set_requires_grad(true);
  Tensor w = randn({7}, 2, 0, DType::f64).set_requires_grad(true);
  Tensor g = randn({5, 3, 7}, 3, 0, DType::f64);
  rms_norm(x, w, 1e-3).backward(g);
  Tensor x2 = x.detach().set_requires_grad(true), w2 = w.detach().set_requires_grad(true);
  Tensor ref = mul(mul(x2, rsqrt(add(mean(mul(x2, x2), {-1}, true), 1e-3))), w2);
  ref.backward(g);
  expect_near_all(x.grad().to_vector(), x2.grad().to_vector(), 1e-12, "dx");
  expect_near_all(w.grad().to_vector(), w2.grad().to_vector(), 1e-12, "dw");
  std::string msg = error_of([] { rms_norm(zeros({2, 8}), zeros({7})); });
  EXPECT_NE(msg.find("rms_norm"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[7]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2, 8]"), std::string::npos) << msg;
}

// ---------------- embedding ----------------

TEST(NnOps, EmbeddingRowsAndScatterAdd) {
  Tensor w = randn({5, 3}, 1, 0, DType::f64).set_requires_grad(true);
  Tensor ids = from_vector({4, 0, 4, 2, 4, 1}, {2, 3}, DType::i32);
  Tensor out = embedding(w, ids);
  ASSERT_EQ(out.shape(), (Shape{2, 3, 3}));
  const Vec wv = w.to_vector(), ov = out.to_vector(), idv = ids.to_vector();
  for (size_t n = 0; n < 6; ++n)
    for (size_t c = 0; c < 3; ++c) EXPECT_EQ(ov[n * 3 + c], wv[size_t(idv[n]) * 3 + c]);
  Tensor g = randn(out.shape(), 2, 0, DType::f64);
  out.backward(g);
  Vec want(15, 0.0);
  const Vec gv = g.to_vector();
  for (size_t n = 0; n < 6; ++n)
    for (size_t c = 0; c < 3; ++c) want[size_t(idv[n]) * 3 + c] += gv[n * 3 + c];
  expect_near_all(w.grad().to_vector(), want, 1e-15, "scatter-add");
  // bf16 rows are copied exactly.
  Tensor wb = cast(randn({5, 3}, 3), DType::bf16);
  EXPECT_TRUE(bitwise_equal(embedding(wb, ids), cast(embedding(cast(wb, DType::f32), ids), DType::bf16)));
}

TEST(NnOps, EmbeddingBadIdNamesOpIdAndPosition) {
  Tensor w = zeros({5, 3});
  std::string msg = error_of([&] { embedding(w, from_vector({0, 1, 2, 3, 4, 9}, {2, 3}, DType::i64)); });
  EXPECT_NE(msg.find("embedding"), std::string::npos) << msg;
  EXPECT_NE(msg.find("id 9"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[1, 2]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[0, 5)"), std::string::npos) << msg;
  msg = error_of([&] { embedding(w, from_vector({1, -1}, {2}, DType::i32)); });
  EXPECT_NE(msg.find("id -1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[1]"), std::string::npos) << msg;
  msg = error_of([&] { embedding(w, zeros({2})); });
  EXPECT_NE(msg.find("i32 or i64"), std::string::npos) << msg;
}

// ---------------- dropout ----------------

TEST(NnOps, DropoutStatisticsAndMask) {
  const double p = 0.3;
  Tensor x = ones({1000, 1000});
  Tensor y = dropout(x, p, 42, 0);
  const Vec v = y.to_vector();
  int64_t zeros_n = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    const bool dropped = double(philox::uniform(42, 0, i)) < p;
    if (dropped) {
      ++zeros_n;
      ASSERT_EQ(v[i], 0.0) << i;
    } else {
      ASSERT_EQ(v[i], double(1.0f / float(1.0 - p))) << i;
    }
  }
  EXPECT_NEAR(double(zeros_n) / double(v.size()), p, 0.003);
  // Same (seed, stream): same mask whatever the thread count; another
  // stream or seed: a different one (masks differ at ~2p(1-p) of positions).
  const int saved = num_threads();
  set_num_threads(1);
  Tensor y1 = dropout(x, p, 42, 0);
  set_num_threads(2);
  Tensor y2 = dropout(x, p, 42, 0);
  set_num_threads(saved);
  EXPECT_TRUE(bitwise_equal(y, y1));
  EXPECT_TRUE(bitwise_equal(y, y2));
  for (Tensor other : {dropout(x, p, 42, 1), dropout(x, p, 43, 0)}) {
    const Vec o = other.to_vector();
    int64_t diff = 0;
    for (size_t i = 0; i < v.size(); ++i) diff += (v[i] == 0.0) != (o[i] == 0.0);
    EXPECT_NEAR(double(diff) / double(v.size()), 2 * p * (1 - p), 0.005);
  }
}

TEST(NnOps, DropoutGradientAndArguments) {
  Tensor x = randn({37, 11}, 1, 0, DType::f64).set_requires_grad(true);
  Tensor y = dropout(x, 0.5, 7, 2);
  Tensor g = randn(y.shape(), 2, 0, DType::f64);
  y.backward(g);
  const Vec yv = y.to_vector(), xv = x.to_vector(), gv = g.to_vector(), dx = x.grad().to_vector();
  for (size_t i = 0; i < yv.size(); ++i) {
    const bool kept = double(philox::uniform(7, 2, i)) >= 0.5;
    EXPECT_EQ(yv[i], kept ? xv[i] / 0.5 : 0.0);
    EXPECT_EQ(dx[i], kept ? gv[i] / 0.5 : 0.0);
  }
  EXPECT_TRUE(bitwise_equal(dropout(x, 0.0, 7), x));
  EXPECT_NE(error_of([&] { dropout(x, 1.0, 7); }).find("dropout: p must be in [0, 1)"), std::string::npos);
  EXPECT_NE(error_of([&] { dropout(x, -0.1, 7); }), "");
}

}  // namespace
}  // namespace moe
