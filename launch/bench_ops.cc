// moe-bench ops: throughput of our CPU ops, called as a user calls them
// (output allocated by the op), against a reference measured in the same
// process: OpenBLAS cblas_sgemm into a preallocated buffer for matmul, and a
// parallel std::memcpy moving the same number of bytes for the memory-bound
// ops. Ours and the reference alternate (ours, ref, ours, ref, ...) after a
// warm-up, and each column shows the median of --repeats samples.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <array>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "core/cpu/gemm_bf16.h"
#include "core/ops.h"
#include "core/threading.h"
#include "launch/bench.h"
#include "launch/bench_report.h"

namespace moe::bench {
namespace {

struct Options {
  int threads = 0;  // 0: all cores
  int repeats = 7;
};

int parse_positive(const std::string& flag, const std::string& v) {
  size_t used = 0;
  long n = 0;
  try {
    n = std::stol(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size() || n < 1 || n > 1 << 20)
    throw BenchUsageError(flag + " needs a positive integer, got '" + v + "'");
  return int(n);
}

Options parse(const std::vector<std::string>& args) {
  Options o;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i], value;
    const size_t eq = flag.find('=');
    const bool inline_value = flag.rfind("--", 0) == 0 && eq != std::string::npos;
    if (inline_value) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    }
    if (flag != "--threads" && flag != "--repeats") throw BenchUsageError("unknown flag '" + args[i] + "'");
    if (!inline_value) {
      if (i + 1 >= args.size()) throw BenchUsageError(flag + " needs a value");
      value = args[++i];
    }
    (flag == "--threads" ? o.threads : o.repeats) = parse_positive(flag, value);
  }
  return o;
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("model name", 0) == 0) {
      const size_t c = line.find(':');
      if (c != std::string::npos) return line.substr(line.find_first_not_of(" \t", c + 1));
    }
  }
  return "unknown CPU";
}

void print_row(const char* op, const std::string& shape, double ours, double ref, const char* unit,
               const char* ref_name) {
  std::printf("%-9s %-15s %11.1f %-7s   %-6s %11.1f %-7s %8.2f\n", op, shape.c_str(), ours, unit, ref_name, ref,
              unit, ours / ref);
}

// Ours at `precision` against a direct all-thread cblas_sgemm of the same
// f32 product (so a bf16 row shows what the bf16 kernels gain over f32 BLAS).
void bench_sgemm(int64_t M, int64_t N, int64_t K, int repeats, MatmulPrecision precision = MatmulPrecision::fp32) {
  const Tensor a = randn({M, K}, 1), b = randn({K, N}, 2);
  Tensor c = empty({M, N});
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* pc = c.data<float>();
  // The reference is OpenBLAS as a user calls it: all threads on one call
  // (our ops keep OpenBLAS at one thread and split the work themselves).
  auto direct = [&] {
    openblas_set_num_threads(num_threads());
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(M), int(N), int(K), 1.0f, pa, int(K), pb, int(N), 0.0f,
                pc, int(N));
    openblas_set_num_threads(1);
  };
  const MatmulPrecisionScope scope(precision);
  auto ours = [&] { Tensor y = matmul(a, b); };
  // Sanity: ours computes the same product (to bf16 operand rounding when bf16).
  const Tensor y = matmul(a, b);
  direct();
  double err = 0, mag = 0;
  for (int64_t i = 0; i < M * N; ++i) {
    err = std::max(err, double(std::fabs(y.data<float>()[i] - pc[i])));
    mag = std::max(mag, double(std::fabs(pc[i])));
  }
  const double tol = precision == MatmulPrecision::bf16 ? 2e-2 : 1e-4;
  if (err > tol * mag) std::printf("WARNING: matmul differs from cblas_sgemm by %g (max |c| %g)\n", err, mag);
  MeasureOptions settle;
  settle.settle_s = 0.25;
  const PairTiming t = measure_pair(ours, direct, repeats, settle);
  const double gflop = 2.0 * double(M) * double(N) * double(K) * 1e-9;
  print_row(precision == MatmulPrecision::bf16 ? "bf16 mm" : "sgemm",
            std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K), gflop / t.ours, gflop / t.ref,
            "GFLOP/s", "sgemm");
}

// Memory-bound op moving `bytes` (read + written) against a parallel memcpy
// of bytes/2 (which also moves `bytes`: bytes/2 read, bytes/2 written).
template <typename F>
void bench_bandwidth(const char* op, const std::string& shape, double bytes, F&& ours, int repeats) {
  const size_t half = size_t(bytes / 2);
  std::vector<char> src(half, 1), dst(half, 0);
  auto copy = [&] {
    parallel_for(int64_t(half), 1 << 20, [&](int64_t b, int64_t e) {
      std::memcpy(dst.data() + b, src.data() + b, size_t(e - b));
    });
  };
  const PairTiming t = measure_pair(ours, copy, repeats);
  print_row(op, shape, bytes * 1e-9 / t.ours, bytes * 1e-9 / t.ref, "GB/s", "memcpy");
}

// Causal attention forward + backward through autograd (ours: the fused
// per-head kernel, masked half skipped) against only the BLAS part of the
// textbook method: per (batch, head) the seven full T x T products of forward
// (QK^T, PV) and backward (recomputed QK^T, P^T dO, dO V^T, dS K, dS^T Q) as
// single-thread cblas_sgemm calls over our threads. Both are counted at the
// reference's 14 T^2 D FLOPs a head, so the ratio is a speed ratio.
void bench_attention(int64_t B, int64_t T, int64_t H, int64_t D, int repeats) {
  const Tensor q = randn({B, T, H, D}, 8), k = randn({B, T, H, D}, 9), v = randn({B, T, H, D}, 10),
               g = randn({B, T, H, D}, 11);
  auto ours = [&] {
    Tensor qg = q.detach().set_requires_grad(true), kg = k.detach().set_requires_grad(true),
           vg = v.detach().set_requires_grad(true);
    scaled_dot_product_attention(qg, kg, vg).backward(g);
  };
  const int64_t ld = H * D;
  auto blas = [&] {
    openblas_set_num_threads(1);
    parallel_for(B * H, 1, [&](int64_t tb, int64_t te) {
      std::vector<float> s(size_t(T * T)), s2(size_t(T * T)), out(size_t(T * D));
      for (int64_t t = tb; t < te; ++t) {
        const int64_t off = (t / H) * T * ld + (t % H) * D;  // head t's [T, D] view, row stride ld
        const float *qh = q.data<float>() + off, *kh = k.data<float>() + off, *vh = v.data<float>() + off,
                    *gh = g.data<float>() + off;
        auto mm = [&](bool ta, bool tb_, int64_t m, int64_t n, int64_t kk, const float* a, int64_t lda, const float* b,
                      int64_t ldb, float* c, int64_t ldc) {
          cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb_ ? CblasTrans : CblasNoTrans, int(m), int(n),
                      int(kk), 1.0f, a, int(lda), b, int(ldb), 0.0f, c, int(ldc));
        };
        mm(false, true, T, T, D, qh, ld, kh, ld, s.data(), T);          // S = Q K^T
        mm(false, false, T, D, T, s.data(), T, vh, ld, out.data(), D);  // O = P V
        mm(false, true, T, T, D, qh, ld, kh, ld, s.data(), T);          // S again
        mm(true, false, T, D, T, s.data(), T, gh, ld, out.data(), D);   // dV = P^T dO
        mm(false, true, T, T, D, gh, ld, vh, ld, s2.data(), T);         // dP = dO V^T
        mm(false, false, T, D, T, s2.data(), T, kh, ld, out.data(), D); // dQ = dS K
        mm(true, false, T, D, T, s2.data(), T, qh, ld, out.data(), D);  // dK = dS^T Q
      }
    });
  };
  const PairTiming t = measure_pair(ours, blas, repeats);
  const double gflop = 14.0 * double(B * H) * double(T * T * D) * 1e-9;
  print_row("attn f+b", "B" + std::to_string(B) + " T" + std::to_string(T) + " H" + std::to_string(H) + " D" +
                            std::to_string(D),
            gflop / t.ours, gflop / t.ref, "GFLOP/s", "7 mm");
}

}  // namespace

int run_ops(const std::vector<std::string>& args) {
  const Options o = parse(args);
  if (o.threads > 0) set_num_threads(o.threads);
  else set_num_threads(int(std::max(1u, std::thread::hardware_concurrency())));
  std::printf("moe-bench ops | cpu: %s | threads: %d | repeats: %d (median shown)\n", cpu_model().c_str(),
              num_threads(), o.repeats);
  std::printf("ours = moe op incl. output allocation; reference = cblas_sgemm into a preallocated buffer,\n"
              "or a %d-thread memcpy moving the same bytes; bandwidth = bytes read + written per second\n\n",
              num_threads());
  std::printf("%-9s %-15s %19s   %-26s %8s\n", "op", "shape", "ours", "reference", "ours/ref");
  std::fflush(stdout);

  for (auto [m, n, k] : {std::array<int64_t, 3>{768, 128, 512}, {3072, 384, 1536}, {4096, 4096, 4096}}) {
    bench_sgemm(m, n, k, o.repeats);
    std::fflush(stdout);
  }
  // model.matmul_precision = BF16 at the dense reference's shapes (tokens x
  // d_model x d_model, the SwiGLU up projection) and a large one.
  if (cpu::bf16_kernels_enabled()) {
    for (auto [m, n, k] : {std::array<int64_t, 3>{768, 128, 128}, {768, 344, 128}, {3072, 384, 1536}}) {
      bench_sgemm(m, n, k, o.repeats, MatmulPrecision::bf16);
      std::fflush(stdout);
    }
  } else {
    std::printf("bf16 mm   (no AVX-512 BF16 on this CPU: bf16 runs as rounded operands on the f32 path)\n");
  }
  // The dense reference's attention, and a longer context.
  bench_attention(12, 64, 4, 32, o.repeats);
  bench_attention(4, 256, 8, 64, o.repeats);
  std::fflush(stdout);
  const double f = sizeof(float);
  {
    const Tensor x = randn({4096, 4096}, 3);
    bench_bandwidth("softmax", "4096x4096", 2 * f * double(x.numel()), [&] { Tensor y = softmax(x, -1); }, o.repeats);
  }
  {
    const Tensor x = randn({8192, 2048}, 4), w = randn({2048}, 5);
    bench_bandwidth("rms_norm", "8192x2048", 2 * f * double(x.numel()), [&] { Tensor y = rms_norm(x, w); },
                    o.repeats);
  }
  {
    const int64_t n = int64_t(1) << 24;
    const Tensor a = randn({n}, 6), b = randn({n}, 7);
    bench_bandwidth("add", "16M", 3 * f * double(n), [&] { Tensor y = add(a, b); }, o.repeats);
  }
  return 0;
}

}  // namespace moe::bench
