// The last layer's stationarity residual, the check of the paper's Lemma 1 (3); the other
// checks are columns of an observation: norm_ratio (2), margin_cv (4), rho / rho_eq (1).
//   residual     relative norm of the last layer's stationarity residual (Lemma 1 (3)):
//                  r = sum_n (y_n - rho f_n)(h_n - v (v . h_n)),  v = w / ||w||,
//                  residual = ||r|| / sum_n |y_n - rho f_n| ||h_n||    (in [0, 1]; 0 if the
//                  denominator is 0, i.e. exact interpolation; NaN without a classifier w)
//                rho f_n = s_n is the binary score. When rho = ||w|| (a BN net, or a one-layer
//                model) v (v . h_n) = v f_n, the paper's form; otherwise f_n = (v . h_n) / r'
//                with r' the product of the other factoring norms, and the tangent term of
//                df_n/dV_L = h_n / r' is (h_n - v (v . h_n)) / r', whose 1/r' cancels in the
//                ratio. Weight decay acts along w and drops out of the direction condition.
//                For two outputs (w = W_0 - W_1) this is the one-output condition on the score.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <stdexcept>
#include <vector>

#include <rhonet/core/tensor.hpp>
#include <rhonet/observe/margins.hpp>
#include <rhonet/observe/norms.hpp>

namespace rhonet {

// h: N x F features entering the last layer; y: labels +-1; score: s_n = rho f_n;
// w: the binary classifier (F values). `r` is scratch (F values).
template <class T>
double stationarity_residual(const matrix<T>& h, std::span<const double> y,
                             std::span<const double> score, std::span<const double> w,
                             std::vector<double>& r) {
  const std::size_t N = h.shape()[0], F = h.shape()[1];
  if (y.size() != N || score.size() != N)
    throw std::invalid_argument("rhonet::stationarity_residual: one label and one score per row of h");
  if (w.size() != F) return std::numeric_limits<double>::quiet_NaN();
  double ww = 0;
  for (double x : w) ww += x * x;
  if (!(ww > 0)) return std::numeric_limits<double>::quiet_NaN();
  const double wn = std::sqrt(ww);
  r.assign(F, 0.0);
  double denom = 0, sum_e_vh = 0;
  for (std::size_t n = 0; n < N; ++n) {
    const T* row = h.data() + n * F;
    const double e = y[n] - score[n];
    double vh = 0, hh = 0;
    for (std::size_t i = 0; i < F; ++i) {
      const double x = double(row[i]);
      vh += x * w[i];
      hh += x * x;
      r[i] += e * x;
    }
    sum_e_vh += e * vh / wn;
    denom += std::abs(e) * std::sqrt(hh);
  }
  double rr = 0;
  for (std::size_t i = 0; i < F; ++i) {
    const double x = r[i] - sum_e_vh * w[i] / wn;
    rr += x * x;
  }
  if (denom == 0) return 0;
  return std::sqrt(rr) / denom;
}

template <class T>
double stationarity_residual(const matrix<T>& h, std::span<const double> y,
                             std::span<const double> score, std::span<const double> w) {
  std::vector<double> r;
  return stationarity_residual(h, y, score, w, r);
}

}  // namespace rhonet
