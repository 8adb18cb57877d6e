#pragma once
// Small dense linear algebra for checking Newton-Schulz outputs.
#include <cmath>
#include <vector>

namespace moe::optim::testing {

using Matrix = std::vector<std::vector<double>>;

// Row-major [rows, cols] floats -> the Gram matrix of the smaller side
// (X X^T when rows <= cols, else X^T X), in f64.
inline Matrix small_gram(const float* x, int64_t rows, int64_t cols) {
  const bool wide = rows <= cols;
  const int64_t n = wide ? rows : cols, k = wide ? cols : rows;
  auto at = [&](int64_t i, int64_t j) { return double(wide ? x[i * cols + j] : x[j * cols + i]); };
  Matrix g(size_t(n), std::vector<double>(size_t(n), 0.0));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t l = 0; l < k; ++l) g[size_t(i)][size_t(j)] += at(i, l) * at(j, l);
  return g;
}

// Eigenvalues of a symmetric matrix by cyclic Jacobi rotations.
inline std::vector<double> symmetric_eigenvalues(Matrix a) {
  const size_t n = a.size();
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0;
    for (size_t i = 0; i < n; ++i)
      for (size_t j = i + 1; j < n; ++j) off += a[i][j] * a[i][j];
    if (off < 1e-24) break;
    for (size_t p = 0; p < n; ++p)
      for (size_t q = p + 1; q < n; ++q) {
        if (std::abs(a[p][q]) < 1e-300) continue;
        const double theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (size_t k = 0; k < n; ++k) {  // A <- A J (columns p, q)
          const double akp = a[k][p], akq = a[k][q];
          a[k][p] = c * akp - s * akq;
          a[k][q] = s * akp + c * akq;
        }
        for (size_t k = 0; k < n; ++k) {  // A <- J^T A (rows p, q)
          const double apk = a[p][k], aqk = a[q][k];
          a[p][k] = c * apk - s * aqk;
          a[q][k] = s * apk + c * aqk;
        }
      }
  }
  std::vector<double> ev(n);
  for (size_t i = 0; i < n; ++i) ev[i] = a[i][i];
  return ev;
}

// Singular values of a row-major [rows, cols] matrix.
inline std::vector<double> singular_values(const float* x, int64_t rows, int64_t cols) {
  std::vector<double> ev = symmetric_eigenvalues(small_gram(x, rows, cols));
  for (double& e : ev) e = std::sqrt(std::max(e, 0.0));
  return ev;
}

}  // namespace moe::optim::testing
