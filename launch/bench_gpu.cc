// moe-bench gpu: our CUDA ops, called as the model calls them (outputs
// allocated by the op, f32 master values rounded to bf16 inside it), against
// a reference measured in the same process on the same device: cuBLASLt
// called directly on bf16 operands prepared once, one dense GEMM of the same
// FLOPs for the experts' grouped GEMM, and a device-to-device cudaMemcpy of
// the same bytes for the memory-bound kernels. Ours and the reference
// alternate sample by sample; each column is the median of --repeats.
// Under MOE_CUDA=SIM the same table runs on the host (--small), which proves
// the program, not the speed.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "launch/bench.h"
#include "launch/bench_report.h"

#if defined(MOE_WITH_CUDA)
#include "core/backend/fp8.h"
#include "core/cuda/blas.h"
#include "core/cuda/context.h"
#include "core/cuda/runtime.h"
#endif

namespace moe::bench {

#if !defined(MOE_WITH_CUDA)

int run_gpu(const std::vector<std::string>&) {
  std::fprintf(stderr, "moe-bench gpu: this build has no CUDA backend (configure with -DMOE_CUDA=ON or SIM)\n");
  return 2;
}

#else

namespace {

const Device kGpu = Device::cuda(0);

void sync() { MOE_CUDA_CHECK(cudaDeviceSynchronize()); }

// Every sample is fenced by a device synchronisation: kernels are timed,
// not their queueing.
PairTiming measure(const std::function<void()>& ours, const std::function<void()>& ref, int repeats) {
  MeasureOptions o;
  o.sample_s = 0.02;
  o.max_iters = 200;
  o.fence = sync;
  return measure_pair(ours, ref, repeats, o);
}

struct Row {
  std::string what, shape, unit, ref_name;
  double ours, ref;
};
std::vector<Row> rows;

void report(Row r) {
  std::printf("%-22s %-26s %10.4g %-7s  %-14s %10.4g %7.3f\n", r.what.c_str(), r.shape.c_str(), r.ours,
              r.unit.c_str(), r.ref_name.c_str(), r.ref, r.ours / r.ref);
  std::fflush(stdout);
  rows.push_back(std::move(r));
}

// A [rows, cols] bf16 copy of a device tensor, prepared once for a
// reference call.
Tensor bf16_of(const Tensor& t) { return cast(t, DType::bf16); }

cuda::blas::Gemm plain_gemm(const Tensor& a, const Tensor& b, const Tensor& c) {
  cuda::blas::Gemm g;
  g.M = a.shape()[0];
  g.K = a.shape()[1];
  g.N = b.shape()[1];
  g.ab = a.dtype();
  g.c = c.dtype();
  g.A = a.raw_data();
  g.lda = g.K;
  g.B = b.raw_data();
  g.ldb = g.N;
  g.C = c.raw_data();
  g.ldc = g.N;
  return g;
}

// Our matmul op at bf16 precision on f32 tensors (the model's linear)
// against cuBLASLt on bf16 operands into a preallocated f32 result.
void bench_gemm(int64_t M, int64_t N, int64_t K, int repeats) {
  const Tensor a = randn({M, K}, 1).to(kGpu), b = randn({K, N}, 2).to(kGpu);
  const Tensor a16 = bf16_of(a), b16 = bf16_of(b), c = empty({M, N}, DType::f32, kGpu);
  const cuda::blas::Gemm g = plain_gemm(a16, b16, c);
  MatmulPrecisionScope bf16(MatmulPrecision::bf16);
  const PairTiming t =
      measure([&] { (void)matmul(a, b); }, [&] { cuda::blas::gemm(g, cuda::current_stream()); }, repeats);
  const double tflop = 2.0 * double(M) * double(N) * double(K) * 1e-12;
  report({"gemm bf16 (matmul op)", std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K),
          "TFLOP/s", "cuBLASLt", tflop / t.ours, tflop / t.ref});
}

// Rows per expert: uniform, or skewed (expert e's share ~ 1 / (e + 1), a
// Zipf load such as an unbalanced router gives; the tail may be empty).
std::vector<int64_t> expert_rows(int64_t E, int64_t total, bool skewed) {
  std::vector<double> w(size_t(E), 1.0);
  if (skewed)
    for (int64_t e = 0; e < E; ++e) w[size_t(e)] = 1.0 / double(e + 1);
  double s = 0;
  for (double v : w) s += v;
  std::vector<int64_t> r(static_cast<size_t>(E));
  int64_t used = 0;
  for (int64_t e = 0; e < E; ++e) used += r[size_t(e)] = int64_t(std::floor(double(total) * w[size_t(e)] / s));
  r[0] += total - used;
  return r;
}

// The experts' first GEMM, x [A, d] @ w [E, d, f] by groups, against one
// dense [A, d] @ [d, f] GEMM (same FLOPs) through cuBLASLt: first our
// grouped_matmul op (f32 masters rounded to bf16 in the op), then the
// grouped library call alone on bf16 operands prepared once.
void bench_grouped(int64_t E, int64_t d, int64_t f, int64_t tokens, int64_t top_k, bool skewed, int repeats) {
  const int64_t A = tokens * top_k;
  const std::vector<int64_t> r = expert_rows(E, A, skewed);
  const Tensor x = randn({A, d}, 3).to(kGpu), w = mul(randn({E, d, f}, 4), 0.02).to(kGpu);
  const Tensor x16 = bf16_of(x), w16 = bf16_of(w), dense_w = bf16_of(select(w, 0, 0));
  const Tensor out = empty({A, f}, DType::f32, kGpu);
  const cuda::blas::Gemm dense = plain_gemm(x16, dense_w, out);
  std::vector<cuda::blas::Gemm> gs;
  int64_t off = 0;
  for (int64_t e = 0; e < E; ++e) {
    if (r[size_t(e)] > 0)
      gs.push_back(plain_gemm(narrow(x16, 0, off, r[size_t(e)]), select(w16, 0, e), narrow(out, 0, off, r[size_t(e)])));
    off += r[size_t(e)];
  }
  const Tensor pointers = empty({int64_t(3 * gs.size())}, DType::i64, kGpu);
  const std::string shape = std::to_string(E) + "x" + std::to_string(d) + "x" + std::to_string(f) + " " +
                            std::to_string(tokens) + "t top" + std::to_string(top_k) + (skewed ? " skew" : "");
  const double tflop = 2.0 * double(A) * double(d) * double(f) * 1e-12;
  auto dense_call = [&] { cuda::blas::gemm(dense, cuda::current_stream()); };
  bool grouped = true;
  const PairTiming lib = measure(
      [&] {
        if (!cuda::blas::gemm_grouped(gs, pointers.raw_data(), cuda::current_stream())) {
          grouped = false;
          for (const cuda::blas::Gemm& g : gs) cuda::blas::gemm(g, cuda::current_stream());
        }
      },
      dense_call, repeats);
  report({grouped ? "grouped (library)" : "grouped (Lt loop)", shape, "TFLOP/s", "dense GEMM", tflop / lib.ours,
          tflop / lib.ref});
  MatmulPrecisionScope bf16(MatmulPrecision::bf16);
  const PairTiming op = measure([&] { (void)grouped_matmul(x, w, r); }, dense_call, repeats);
  report({"grouped_matmul op", shape, "TFLOP/s", "dense GEMM", tflop / op.ours, tflop / op.ref});
}

// GB/s of `ours` moving `bytes` (reads + writes) against cudaMemcpy D2D of
// the same bytes (half read, half written).
void bench_bytes(const std::string& what, const std::string& shape, double bytes, const std::function<void()>& ours,
                 int repeats) {
  const size_t half = size_t(bytes / 2);
  const Tensor src = empty({int64_t(half / 4)}, DType::f32, kGpu), dst = empty({int64_t(half / 4)}, DType::f32, kGpu);
  const cudaStream_t stream = cuda::current_stream();
  const PairTiming t = measure(
      ours,
      [&] {
        MOE_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), half, cudaMemcpyDeviceToDevice, stream));
      },
      repeats);
  report({what, shape, "GB/s", "memcpy D2D", bytes / t.ours * 1e-9, bytes / t.ref * 1e-9});
}

// Dispatch (rows gathered by expert, in the stable travel order) and combine
// (gated rows added back onto their tokens) as the MoE layer runs them, and
// the fused row kernels, in f32.
void bench_memory(int64_t tokens, int64_t d, int64_t top_k, int64_t E, int repeats) {
  const int64_t A = tokens * top_k;
  std::mt19937_64 rng(7);
  std::vector<std::vector<double>> by_expert(static_cast<size_t>(E));
  
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t k = 0; k < top_k; ++k) by_expert[size_t((t * 7 + k * 13 + int64_t(rng() % 3)) % E)].push_back(double(t));
  std::vector<double> perm;
  for (const auto& v : by_expert) perm.insert(perm.end(), v.begin(), v.end());
  const Tensor x = randn({tokens, d}, 5).to(kGpu), idx = from_vector(perm, {A}, DType::i64, kGpu);
  const Tensor rows_x = index_select(x, 0, idx), zero = zeros({tokens, d}, DType::f32, kGpu);
  const std::string shape = std::to_string(tokens) + "t x " + std::to_string(d) + " top" + std::to_string(top_k);
  const double row_bytes = double(d) * 4;
  bench_bytes("permute (index_select)", shape, 2.0 * double(A) * row_bytes, [&] { (void)index_select(x, 0, idx); },
              repeats);
  // index_add reads its base and the rows and writes the base once.
  bench_bytes("unpermute (index_add)", shape, double(A + 2 * tokens) * row_bytes,
              [&] { (void)index_add(zero, 0, idx, rows_x); }, repeats);
  const Tensor gw = ones({d}, DType::f32, kGpu), g = randn({tokens, d}, 6).to(kGpu);
  const std::string rs = std::to_string(tokens) + " x " + std::to_string(d);
  bench_bytes("rms_norm fwd", rs, 2.0 * double(tokens) * row_bytes, [&] { (void)rms_norm(x, gw); }, repeats);
  bench_bytes("swiglu fwd", rs, 3.0 * double(tokens) * row_bytes, [&] { (void)swiglu(x, g); }, repeats);
  bench_bytes("softmax fwd", rs, 2.0 * double(tokens) * row_bytes, [&] { (void)softmax(x, -1); }, repeats);
}

// FP8 (DeepSeek-V3 tiles: x in 1 x 128, w in 128 x 128 blocks) against
// cuBLASLt BF16 on the same shape: the GEMM alone on operands quantised
// once, then the linear's forward as the model runs it (both quantisers and
// the GEMM, from f32), then the activation quantiser's bandwidth.
void bench_fp8(int64_t M, int64_t N, int64_t K, int repeats) {
  const Tensor x = randn({M, K}, 11).to(kGpu), w = mul(randn({K, N}, 12), 0.02).to(kGpu);
  const Tensor x16 = bf16_of(x), w16 = bf16_of(w), c = empty({M, N}, DType::f32, kGpu);
  const cuda::blas::Gemm ref = plain_gemm(x16, w16, c);
  const cudaStream_t stream = cuda::current_stream();
  const auto bf16_ref = [&] { cuda::blas::gemm(ref, stream); };
  const fp8::QuantizedTensor qa =
      backend::fp8_quantize(x, fp8::Format::e4m3, fp8::Layout::tile_1x128, fp8::ScaleRounding::none, false);
  const fp8::QuantizedTensor qb =
      backend::fp8_quantize(w, fp8::Format::e4m3, fp8::Layout::block_128x128, fp8::ScaleRounding::none, true);
  cuda::blas::Fp8Gemm g;
  g.M = M, g.N = N, g.K = K;
  g.a_layout = qa.layout, g.b_layout = qb.layout;
  g.A = qa.codes.raw_data(), g.Bt = qb.codes.raw_data();
  g.a_scales = qa.scales.device_data<float>(), g.b_scales = qb.scales.device_data<float>();
  g.C = c.device_data<float>();
  const std::string shape = std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K);
  const double tflop = 2.0 * double(M) * double(N) * double(K) * 1e-12;
  PairTiming t = measure([&] { cuda::blas::fp8_gemm(g, stream); }, bf16_ref, repeats);
  report({"fp8 gemm (tile-wise)", shape, "TFLOP/s", "cuBLASLt bf16", tflop / t.ours, tflop / t.ref});
  fp8::GemmRecipe r;  // tile-wise
  t = measure([&] { (void)backend::fp8_fprop(x, w, r, {}); }, bf16_ref, repeats);
  report({"fp8 fprop (quant+gemm)", shape, "TFLOP/s", "cuBLASLt bf16", tflop / t.ours, tflop / t.ref});
  // Reads x (4 B), writes a code (1 B) per element, plus the scales.
  bench_bytes("fp8 quantise 1x128", std::to_string(M) + " x " + std::to_string(K),
              double(M * K) * 5.0 + double(M * ((K + 127) / 128)) * 4.0,
              [&] {
                (void)backend::fp8_quantize(x, fp8::Format::e4m3, fp8::Layout::tile_1x128, fp8::ScaleRounding::none,
                                            false);
              },
              repeats);
}

// Causal attention forward + backward: 3.5 x the forward's 2 T^2 Dh per head
// (causal half of QK^T and PV; backward is 2.5 forwards). No reference: the
// issue's table lists TFLOP/s.
void bench_attention(int64_t B, int64_t T, int64_t H, int64_t Dh, int repeats) {
  Tensor q = randn({B, T, H, Dh}, 8).to(kGpu), k = randn({B, T, H, Dh}, 9).to(kGpu),
         v = randn({B, T, H, Dh}, 10).to(kGpu);
  for (Tensor* t : {&q, &k, &v}) t->set_requires_grad();
  MatmulPrecisionScope bf16(MatmulPrecision::bf16);
  auto step = [&] {
    Tensor o = scaled_dot_product_attention(q, k, v);
    sum(o).backward();
  };
  const PairTiming t = measure(step, step, repeats);
  const double tflop = 3.5 * 2.0 * double(B * H) * double(T) * double(T) * double(Dh) * 1e-12;
  report({"attention fwd+bwd", "B" + std::to_string(B) + " T" + std::to_string(T) + " H" + std::to_string(H) +
                                   " Dh" + std::to_string(Dh),
          "TFLOP/s", "(itself)", tflop / t.ours, tflop / t.ref});
}

}  // namespace

int run_gpu(const std::vector<std::string>& args) {
  std::vector<std::string> valued;
  bool small = false;
  for (const std::string& a : args) (a == "--small" ? small = true : (valued.push_back(a), false));
  const Flags f = parse_flags(valued, {"repeats", "csv"});
  const int repeats = int(int_flag(f, "repeats", small ? 3 : 9, 1, 1000));
  const std::string csv = str_flag(f, "csv", "");
  if (cuda_device_count() < 1) {
    std::fprintf(stderr, "moe-bench gpu: no CUDA device was seen\n");
    return 2;
  }
#if defined(MOE_CUDA_SIM)
  const std::string name = "SIMT host shim";
#else
  cudaDeviceProp prop = {};
  MOE_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  const std::string name = prop.name;
#endif
  int sms = 0;
  size_t free_b = 0, total_b = 0;
  MOE_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  MOE_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  std::printf("moe-bench gpu: %s, %d SMs, %.1f GiB; median of %d samples%s\n", name.c_str(), sms,
              double(total_b) / double(1ull << 30), repeats, small ? " (--small shapes)" : "");
  std::printf("%-22s %-26s %10s %-7s  %-14s %10s %7s\n", "op", "shape", "ours", "", "reference", "ref", "ratio");
  {
    // Forward-only rows record no graph, as in evaluation.
    NoGradGuard no_grad;
    bench_gemm(small ? 64 : 4096, small ? 48 : 4096, small ? 40 : 4096, repeats);
    if (!small) bench_gemm(16384, 2048, 1408, repeats);
    for (bool skewed : {false, true}) {
      if (small) bench_grouped(8, 32, 24, 64, 3, skewed, repeats);
      else bench_grouped(64, 2048, 1408, 16384, 6, skewed, repeats);
    }
    if (small) bench_memory(128, 64, 3, 8, repeats);
    else bench_memory(16384, 2048, 6, 64, repeats);
    // The experts' two product shapes (d 2048, f 1408) over 16k rows.
    if (small) bench_fp8(64, 48, 256, repeats);
    else for (auto [n, k] : {std::pair<int64_t, int64_t>{1408, 2048}, {2048, 1408}}) bench_fp8(16384, n, k, repeats);
  }
  for (int64_t T : small ? std::vector<int64_t>{64} : std::vector<int64_t>{2048, 4096})
    bench_attention(1, T, small ? 2 : 16, small ? 16 : 128, repeats);
  if (!csv.empty())
    for (const Row& r : rows)
      append_csv(csv, {"device", "op", "shape", "unit", "ours", "reference", "ref", "ratio"},
                 {name, r.what, r.shape, r.unit, fmt(r.ours), r.ref_name, fmt(r.ref), fmt(r.ours / r.ref)});
  return 0;
}

#endif

}  // namespace moe::bench
