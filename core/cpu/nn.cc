#include "core/cpu/nn.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/cpu/lane_sum.h"
#include "core/dtype_switch.h"
#include "core/kernels/nn_math.h"
#include "core/threading.h"

namespace moe::cpu {

namespace {

// Vectorisable fixed-order f64 dot product (see LaneSum).
template <typename T>
double dot(const T* a, const T* b, int64_t n) {
  LaneSum s;
  s.add_products(a, b, n);
  return s.total();
}

}  // namespace

// ---------------- rms_norm ----------------

void rms_norm_fwd(const Tensor& x, const Tensor& w, double eps, const Tensor& out, const Tensor& rstd) {
  const int64_t D = x.shape().back(), R = D == 0 ? 0 : x.numel() / D;
  dtype_switch_float(x.dtype(), "rms_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = x.data<T>();
    const T* pw = w.data<T>();
    T* po = out.data<T>();
    T* pr = rstd.data<T>();
    parallel_for(R, std::max<int64_t>(1, 8192 / std::max<int64_t>(D, 1)), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const T* xr = px + r * D;
        const T rs = T(nn_math::rms_rstd(dot(xr, xr, D), D, eps));
        pr[r] = rs;
        for (int64_t j = 0; j < D; ++j) po[r * D + j] = xr[j] * rs * pw[j];
      }
    });
  });
}

void rms_norm_bwd(const Tensor& g, const Tensor& x, const Tensor& w, const Tensor& rstd, const Tensor& dx,
                  const Tensor& dw) {
  const int64_t D = x.shape().back(), R = D == 0 ? 0 : x.numel() / D;
  // dw is summed over rows in blocks whose size depends on R only: each block
  // sums its rows in order, then the blocks are summed in order.
  const int64_t rows_per_block = std::max<int64_t>(16, (R + 63) / 64);
  const int64_t nblocks = (R + rows_per_block - 1) / rows_per_block;
  std::vector<double> partial(dw.defined() ? size_t(nblocks * D) : 0, 0.0);
  dtype_switch_float(x.dtype(), "rms_norm backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* pg = g.data<T>();
    const T* px = x.data<T>();
    const T* pw = w.data<T>();
    const T* pr = rstd.data<T>();
    T* pdx = dx.data<T>();
    parallel_for(nblocks, 1, [&](int64_t bb, int64_t be) {
      std::vector<T> xhat(static_cast<size_t>(D));
      for (int64_t blk = bb; blk < be; ++blk) {
        double* acc = partial.empty() ? nullptr : partial.data() + blk * D;
        for (int64_t r = blk * rows_per_block; r < std::min(R, (blk + 1) * rows_per_block); ++r) {
          const T* gr = pg + r * D;
          const T* xr = px + r * D;
          const T rs = pr[r];
          double c = 0;
          for (int64_t j = 0; j < D; ++j) {
            xhat[size_t(j)] = xr[j] * rs;
            c += double(gr[j] * pw[j]) * double(xhat[size_t(j)]);
          }
          const T cm = T(c / double(D));
          for (int64_t j = 0; j < D; ++j) pdx[r * D + j] = nn_math::rms_dx(gr[j], pw[j], xhat[size_t(j)], rs, cm);
          if (acc)
            for (int64_t j = 0; j < D; ++j) acc[j] += double(gr[j]) * double(xhat[size_t(j)]);
        }
      }
    });
    if (!dw.defined()) return;
    T* pdw = dw.data<T>();
    parallel_for(D, 1024, [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j) {
        double s = 0;
        for (int64_t blk = 0; blk < nblocks; ++blk) s += partial[size_t(blk * D + j)];
        pdw[j] = T(s);
      }
    });
  });
}

// ---------------- rope ----------------

namespace {

// cos/sin of every (position, pair) of one RoPE setting, angles in double.
template <typename T>
struct RopeTable {
  double base;
  int64_t rot_dim, offset, positions;
  std::vector<T> cos, sin;
};

// The table for these settings, built once per thread and kept: every layer's
// q and k, forward and backward, use the same one (building it took a
// cos, sin and pow per entry on one thread while the others waited).
template <typename T>
const RopeTable<T>& rope_table(double base, int64_t rot_dim, int64_t offset, int64_t positions) {
  constexpr size_t kKept = 8;
  thread_local std::vector<RopeTable<T>> kept;
  for (const RopeTable<T>& t : kept)
    if (t.base == base && t.rot_dim == rot_dim && t.offset == offset && t.positions == positions) return t;
  if (kept.size() == kKept) kept.erase(kept.begin());
  const int64_t half = rot_dim / 2;
  RopeTable<T> t{base, rot_dim, offset, positions, std::vector<T>(size_t(positions * half)),
                 std::vector<T>(size_t(positions * half))};
  for (int64_t p = 0; p < positions; ++p)
    for (int64_t i = 0; i < half; ++i) {
      const double a = double(offset + p) * nn_math::rope_inv_freq(base, i, rot_dim);
      t.cos[size_t(p * half + i)] = T(std::cos(a));
      t.sin[size_t(p * half + i)] = T(std::sin(a));
    }
  kept.push_back(std::move(t));
  return kept.back();
}

}  // namespace

void rope(const Tensor& x, double base, bool interleaved, int64_t offset, int64_t rot_dim, bool inverse,
          const Tensor& out) {
  const int64_t T_ = x.shape()[1], H = x.shape()[2], Dh = x.shape()[3], half = rot_dim / 2;
  const int64_t rows = x.numel() / std::max<int64_t>(Dh, 1);
  dtype_switch_float(x.dtype(), "rope", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const RopeTable<T>& table = rope_table<T>(base, rot_dim, offset, T_);
    const T* cs = table.cos.data();
    const T* sn = table.sin.data();
    const T sign = inverse ? T(-1) : T(1);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    parallel_for(rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(Dh, 1)), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const int64_t t = (r / H) % T_;
        const T* xr = px + r * Dh;
        T* yr = po + r * Dh;
        const T *ct = cs + t * half, *st = sn + t * half;
        // Pair i rotates dims (2i, 2i+1) interleaved, (i, i + rot_dim/2)
        // half-split: one loop per convention, so each vectorises.
        if (interleaved) {
          for (int64_t i = 0; i < half; ++i)
            nn_math::rope_rotate(xr[2 * i], xr[2 * i + 1], ct[i], sign * st[i], yr[2 * i], yr[2 * i + 1]);
        } else {
          for (int64_t i = 0; i < half; ++i)
            nn_math::rope_rotate(xr[i], xr[i + half], ct[i], sign * st[i], yr[i], yr[i + half]);
        }
        for (int64_t j = rot_dim; j < Dh; ++j) yr[j] = xr[j];
      }
    });
  });
}

// ---------------- embedding ----------------

int64_t embedding_first_bad(const Tensor& ids, int64_t V) {
  return dtype_switch_index(ids.dtype(), "embedding", [&](auto tag) -> int64_t {
    using I = typename decltype(tag)::type;
    const I* p = ids.data<I>();
    for (int64_t n = 0; n < ids.numel(); ++n)
      if (p[n] < 0 || int64_t(p[n]) >= V) return n;
    return -1;
  });
}

void embedding_fwd(const Tensor& w, const Tensor& ids, const Tensor& out) {
  const int64_t D = w.shape()[1], N = ids.numel(), row = w.strides()[0];
  const size_t es = dtype_size(w.dtype());
  const char* pw = static_cast<const char*>(w.raw_data());
  char* po = static_cast<char*>(out.raw_data());
  dtype_switch_index(ids.dtype(), "embedding", [&](auto tag) {
    using I = typename decltype(tag)::type;
    const I* pi = ids.data<I>();
    parallel_for(N, std::max<int64_t>(1, 16384 / std::max<int64_t>(D, 1)), [&](int64_t b, int64_t e) {
      for (int64_t n = b; n < e; ++n)
        std::memcpy(po + size_t(n * D) * es, pw + size_t(int64_t(pi[n]) * row) * es, size_t(D) * es);
    });
  });
}

void embedding_bwd(const Tensor& g, const Tensor& ids, const Tensor& dw) {
  const int64_t D = dw.shape()[1], N = ids.numel();
  dtype_switch_float(g.dtype(), "embedding backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* pg = g.data<T>();
    T* pd = dw.data<T>();
    dtype_switch_index(ids.dtype(), "embedding backward", [&](auto itag) {
      using I = typename decltype(itag)::type;
      const I* pi = ids.data<I>();
      // Threads own column ranges; each column sums the ids in order.
      parallel_for(D, 64, [&](int64_t c0, int64_t c1) {
        for (int64_t n = 0; n < N; ++n) {
          T* dst = pd + int64_t(pi[n]) * D;
          const T* src = pg + n * D;
          for (int64_t c = c0; c < c1; ++c) dst[c] += src[c];
        }
      });
    });
  });
}

// ---------------- dropout ----------------

void dropout(const Tensor& x, double p, uint64_t seed, uint64_t stream, const Tensor& out) {
  dtype_switch_float(x.dtype(), "dropout", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = x.data<T>();
    T* po = out.data<T>();
    const T keep_prob = T(1.0 - p);
    parallel_for(x.numel(), 4096, [&](int64_t b, int64_t e) {
      philox::U4 r{};
      for (int64_t i = b; i < e; ++i) {
        if (i == b || i % 4 == 0) r = philox::philox4x32_10(seed, stream, uint64_t(i) / 4);
        po[i] = nn_math::dropout_apply(px[i], nn_math::dropout_keep_word(r.x[i % 4], p), keep_prob);
      }
    });
  });
}

// ---------------- router selection ----------------

void route_topk(const Tensor& scores, const Tensor& bias, const route_math::Spec& s, const Tensor& experts,
                const Tensor& affinity) {
  const int64_t N = scores.size(0), E = s.experts, K = s.top_k;
  const float* ps = scores.data<float>();
  const float* pb = bias.defined() ? bias.data<float>() : nullptr;
  int32_t* pe = experts.data<int32_t>();
  float* pa = affinity.data<float>();
  parallel_for(N, 64, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      route_math::select_token(ps + t * E, pb, s, pe + t * K);
      for (int64_t k = 0; k < K; ++k) pa[t * K + k] = ps[t * E + pe[t * K + k]];
    }
  });
}

}  // namespace moe::cpu
