// Neural collapse (Papyan, Han, Donoho 2020) on the features h_n entering the last layer.
//
// General form, C classes with ids in [0, C):
//   mu_c   class means; mu_G = (1/N) sum_n h_n, the global mean over all samples (Papyan et
//          al.; it equals the mean of the class means only for balanced classes);
//          M = [mu_c - mu_G] (F x C)
//   Sigma_W = (1/N) sum_n (h_n - mu_{c(n)})(h_n - mu_{c(n)})^T,  Sigma_B = M M^T / C
//   nc1    = Tr(Sigma_W Sigma_B^+) / C, computed in the C x C space:
//            Sigma_B^+ = C M G^+ G^+ M^T with G = M^T M, so nc1 = Tr(G^+ G^+ M^T Sigma_W M)
//            (never an F x F matrix; G^+ by a symmetric eigen-decomposition)
//   nc2    = std / mean of ||mu_c - mu_G|| (population std; 0 for C = 2 with balanced
//            classes); nc2_cos = mean over c != c' of |cos(mu_c - mu_G, mu_c' - mu_G) + 1/(C-1)|
//            (0 for C = 2); nc2_w = std / mean of ||w_c|| when classifier rows are given
//   nc3    = || W^T / ||W||_F - M / ||M||_F ||_F when classifier rows W (C x F) are given
//   nc4    = fraction of samples whose nearest class mean (Euclidean) differs from the
//            network's decision
// Binary form (neural_collapse_binary), y_n in {-1, +1}: class 0 = +1, class 1 = -1,
//   D = mu_{+1} - mu_{-1}; nc1 reduces to D^T Sigma_W D / ((a^2 + b^2) ||D||^4) with a, b the
//   class fractions (2 D^T Sigma_W D / ||D||^4 for balanced classes);
//   nc3 = 1 - cos(w, D) for the binary classifier w (the last layer's row for one output,
//   W_0 - W_1 for two); the network's decision is sign(s_n) (s_n <= 0 counts as -1).
// Quantities that cannot be computed (an empty class, no classifier) are NaN.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include <rhonet/core/tensor.hpp>

namespace rhonet {

struct nc_observation {
  std::size_t classes = 0;
  double nc1 = std::numeric_limits<double>::quiet_NaN();
  double nc2 = std::numeric_limits<double>::quiet_NaN();
  double nc2_cos = std::numeric_limits<double>::quiet_NaN();
  double nc2_w = std::numeric_limits<double>::quiet_NaN();
  double nc3 = std::numeric_limits<double>::quiet_NaN();
  double nc4 = std::numeric_limits<double>::quiet_NaN();
};

namespace detail {

// Eigen-decomposition of a symmetric n x n matrix (row-major) by cyclic Jacobi rotations:
// a becomes diagonal (the eigenvalues), v (row-major) holds the eigenvectors as columns.
inline void jacobi_eigen(std::vector<double>& a, std::size_t n, std::vector<double>& v) {
  v.assign(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i) v[i * n + i] = 1;
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0, diag = 0;
    for (std::size_t p = 0; p < n; ++p)
      for (std::size_t q = 0; q < n; ++q) (p == q ? diag : off) += a[p * n + q] * a[p * n + q];
    if (off <= 1e-30 * diag || off == 0) return;
    for (std::size_t p = 0; p + 1 < n; ++p)
      for (std::size_t q = p + 1; q < n; ++q) {
        const double apq = a[p * n + q];
        if (apq == 0) continue;
        const double theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (std::size_t k = 0; k < n; ++k) {  // a <- a J
          const double akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (std::size_t k = 0; k < n; ++k) {  // a <- J^T a
          const double apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (std::size_t k = 0; k < n; ++k) {  // v <- v J
          const double vkp = v[k * n + p], vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
  }
}

// Moore-Penrose pseudo-inverse of a symmetric positive semi-definite n x n matrix;
// eigenvalues below n * 1e-12 * the largest count as zero.
inline std::vector<double> symmetric_pinv(std::vector<double> a, std::size_t n) {
  std::vector<double> v;
  jacobi_eigen(a, n, v);
  double top = 0;
  for (std::size_t i = 0; i < n; ++i) top = std::max(top, std::abs(a[i * n + i]));
  const double tol = double(n) * 1e-12 * top;
  std::vector<double> p(n * n, 0.0);
  for (std::size_t k = 0; k < n; ++k) {
    const double lam = a[k * n + k];
    if (std::abs(lam) <= tol) continue;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j) p[i * n + j] += v[i * n + k] * v[j * n + k] / lam;
  }
  return p;
}

inline double dot(const double* a, const double* b, std::size_t n) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

inline double std_over_mean(std::span<const double> v) {
  double m = 0, s = 0;
  for (double x : v) m += x;
  m /= double(v.size());
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / double(v.size())) / m;
}

}  // namespace detail

// h: N x F features; cls: N class ids in [0, C); decision: N network decisions (class ids;
// empty = no nc4); classifier: C x F row-major weight rows (empty = no nc2_w, nc3).
template <class T>
nc_observation neural_collapse(const matrix<T>& h, std::span<const int> cls, std::size_t C,
                               std::span<const int> decision = {},
                               std::span<const double> classifier = {}) {
  const std::size_t N = h.shape()[0], F = h.shape()[1];
  if (cls.size() != N) throw std::invalid_argument("rhonet::neural_collapse: one class id per row of h");
  if (!decision.empty() && decision.size() != N)
    throw std::invalid_argument("rhonet::neural_collapse: one decision per row of h");
  if (!classifier.empty() && classifier.size() != C * F)
    throw std::invalid_argument("rhonet::neural_collapse: the classifier must be C x F");
  nc_observation o;
  o.classes = C;
  if (N == 0 || C < 2) return o;

  std::vector<double> mu(C * F, 0.0), muG(F, 0.0);
  std::vector<std::size_t> count(C, 0);
  for (std::size_t n = 0; n < N; ++n) {
    const int c = cls[n];
    if (c < 0 || std::size_t(c) >= C) throw std::invalid_argument("rhonet::neural_collapse: class id out of range");
    ++count[c];
    const T* row = h.data() + n * F;
    double* m = mu.data() + std::size_t(c) * F;
    for (std::size_t i = 0; i < F; ++i) m[i] += double(row[i]);
  }
  for (std::size_t c = 0; c < C; ++c) {
    if (count[c] == 0) return o;
    for (std::size_t i = 0; i < F; ++i) muG[i] += mu[c * F + i] / double(N);
    for (std::size_t i = 0; i < F; ++i) mu[c * F + i] /= double(count[c]);
  }
  std::vector<double> Mt(C * F);  // row c = mu_c - mu_G
  for (std::size_t c = 0; c < C; ++c)
    for (std::size_t i = 0; i < F; ++i) Mt[c * F + i] = mu[c * F + i] - muG[i];

  // G = M^T M, A = M^T Sigma_W M = (1/N) sum_n z_n z_n^T with z_n = M^T (h_n - mu_c(n)).
  std::vector<double> G(C * C), A(C * C, 0.0), d(F), z(C);
  for (std::size_t a = 0; a < C; ++a)
    for (std::size_t b = 0; b < C; ++b) G[a * C + b] = detail::dot(&Mt[a * F], &Mt[b * F], F);
  for (std::size_t n = 0; n < N; ++n) {
    const T* row = h.data() + n * F;
    const double* m = mu.data() + std::size_t(cls[n]) * F;
    for (std::size_t i = 0; i < F; ++i) d[i] = double(row[i]) - m[i];
    for (std::size_t a = 0; a < C; ++a) z[a] = detail::dot(&Mt[a * F], d.data(), F);
    for (std::size_t a = 0; a < C; ++a)
      for (std::size_t b = 0; b < C; ++b) A[a * C + b] += z[a] * z[b];
  }
  for (double& x : A) x /= double(N);
  const std::vector<double> Gp = detail::symmetric_pinv(G, C);
  std::vector<double> Gp2(C * C, 0.0);
  for (std::size_t a = 0; a < C; ++a)
    for (std::size_t b = 0; b < C; ++b)
      for (std::size_t k = 0; k < C; ++k) Gp2[a * C + b] += Gp[a * C + k] * Gp[k * C + b];
  double tr = 0;
  for (std::size_t a = 0; a < C; ++a)
    for (std::size_t b = 0; b < C; ++b) tr += Gp2[a * C + b] * A[b * C + a];
  o.nc1 = tr;

  // NC2.
  std::vector<double> norms(C);
  for (std::size_t c = 0; c < C; ++c) norms[c] = std::sqrt(G[c * C + c]);
  o.nc2 = detail::std_over_mean(norms);
  double cs = 0;
  for (std::size_t a = 0; a < C; ++a)
    for (std::size_t b = 0; b < C; ++b)
      if (a != b) cs += std::abs(G[a * C + b] / (norms[a] * norms[b]) + 1.0 / double(C - 1));
  o.nc2_cos = cs / double(C * (C - 1));

  // NC2 of the classifier, NC3.
  if (!classifier.empty()) {
    std::vector<double> wn(C);
    double wF = 0, mF = 0;
    for (std::size_t c = 0; c < C; ++c) {
      wn[c] = std::sqrt(detail::dot(&classifier[c * F], &classifier[c * F], F));
      wF += wn[c] * wn[c];
      mF += G[c * C + c];
    }
    o.nc2_w = detail::std_over_mean(wn);
    wF = std::sqrt(wF);
    mF = std::sqrt(mF);
    double s = 0;
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t i = 0; i < F; ++i) {
        const double e = classifier[c * F + i] / wF - Mt[c * F + i] / mF;
        s += e * e;
      }
    o.nc3 = std::sqrt(s);
  }

  // NC4.
  if (!decision.empty()) {
    std::size_t differ = 0;
    for (std::size_t n = 0; n < N; ++n) {
      const T* row = h.data() + n * F;
      std::size_t best = 0;
      double bestd = std::numeric_limits<double>::infinity();
      for (std::size_t c = 0; c < C; ++c) {
        double s = 0;
        for (std::size_t i = 0; i < F; ++i) {
          const double e = double(row[i]) - mu[c * F + i];
          s += e * e;
        }
        if (s < bestd) {
          bestd = s;
          best = c;
        }
      }
      differ += int(best) != decision[n];
    }
    o.nc4 = double(differ) / double(N);
  }
  return o;
}

// Binary neural collapse from labels y in {-1, +1}, the binary classifier w (F values; empty
// = no nc3) and the network's scores s_n (empty = no nc4).
template <class T>
nc_observation neural_collapse_binary(const matrix<T>& h, std::span<const double> y,
                                      std::span<const double> w = {},
                                      std::span<const double> score = {}) {
  const std::size_t N = h.shape()[0], F = h.shape()[1];
  if (y.size() != N) throw std::invalid_argument("rhonet::neural_collapse_binary: one label per row of h");
  if (!score.empty() && score.size() != N)
    throw std::invalid_argument("rhonet::neural_collapse_binary: one score per row of h");
  if (!w.empty() && w.size() != F)
    throw std::invalid_argument("rhonet::neural_collapse_binary: w must have F entries");
  std::vector<int> cls(N), dec(score.empty() ? 0 : N);
  for (std::size_t n = 0; n < N; ++n) cls[n] = y[n] > 0 ? 0 : 1;
  for (std::size_t n = 0; n < dec.size(); ++n) dec[n] = score[n] > 0 ? 0 : 1;
  nc_observation o = neural_collapse(h, cls, 2, dec);
  if (!w.empty() && N > 0) {
    std::vector<double> D(F, 0.0);
    std::size_t np = 0, nm = 0;
    for (std::size_t n = 0; n < N; ++n) (cls[n] == 0 ? np : nm) += 1;
    if (np > 0 && nm > 0) {
      for (std::size_t n = 0; n < N; ++n) {
        const double k = cls[n] == 0 ? 1.0 / double(np) : -1.0 / double(nm);
        const T* row = h.data() + n * F;
        for (std::size_t i = 0; i < F; ++i) D[i] += k * double(row[i]);
      }
      const double dd = detail::dot(D.data(), D.data(), F), ww = detail::dot(w.data(), w.data(), F);
      if (dd > 0 && ww > 0) o.nc3 = 1.0 - detail::dot(w.data(), D.data(), F) / std::sqrt(dd * ww);
    }
  }
  return o;
}

}  // namespace rhonet
