// observe_margins: the statistics of the margins m_n = y_n f_n (f_n = g(x_n) / rho) and the
// norm equilibrium of the paper's dynamics; observe_multiclass_margins: the same for C
// outputs with one-hot targets, m_n = f_{n,y_n} - max_{c != y_n} f_{n,c}.
//   min, max, mean, stddev (population, 1/N), cv = std / mean
//   quantiles[k] = the k % quantile, k = 0..100, linear interpolation between order
//                  statistics (numpy's default: position k/100 * (N - 1))
//   mean_abs_f = (1/N) sum |f_n|, sum_yf = sum y_n f_n, sum_f2 = sum f_n^2
//   rho_eq  = sum_yf / (lambda + sum_f2), rho_eq0 = sum_yf / sum_f2
//   rho_margin_mean = rho * mean   (-> 1 at an interpolant, where every rho f_n = y_n)
// lambda is the weight decay of the sum-form loss L = sum_n (g_n - y_n)^2 + lambda sum_k ||W_k||^2;
// with PyTorch-style weight decay wd on the mean loss (1/N) sum_n (...)^2, lambda = N wd / 2.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <stdexcept>
#include <vector>

namespace rhonet {

inline constexpr std::size_t margin_quantile_count = 101;

struct margin_observation {
  std::size_t count = 0;
  double min = 0, max = 0, mean = 0, stddev = 0, cv = 0;
  double mean_abs_f = 0, sum_yf = 0, sum_f2 = 0;
  double rho_eq = 0, rho_eq0 = 0, rho_margin_mean = 0;
  std::array<double, margin_quantile_count> quantiles{};
};

struct histogram {
  double lo = 0, hi = 0;               // bins cover [lo, hi], equal width
  std::vector<std::size_t> counts;     // values equal to hi go into the last bin
  std::size_t below = 0, above = 0;    // outside [lo, hi]
};

// The p-quantile (p in [0, 1]) of sorted values, linear interpolation.
inline double sorted_quantile(std::span<const double> sorted, double p) {
  if (sorted.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double pos = std::clamp(p, 0.0, 1.0) * double(sorted.size() - 1);
  const std::size_t lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double t = pos - double(lo);
  return sorted[lo] + t * (sorted[hi] - sorted[lo]);
}

// Quantiles of (unsorted) values at the given probabilities.
inline std::vector<double> quantiles(std::vector<double> values, std::span<const double> probs) {
  std::sort(values.begin(), values.end());
  std::vector<double> q;
  q.reserve(probs.size());
  for (double p : probs) q.push_back(sorted_quantile(values, p));
  return q;
}

// Equal-width histogram of values over [lo, hi]; lo == hi means [min, max] of the values.
inline histogram make_histogram(std::span<const double> values, std::size_t bins, double lo = 0,
                                double hi = 0) {
  if (bins == 0) throw std::invalid_argument("rhonet::make_histogram: bins must be positive");
  histogram h;
  if (lo == hi && !values.empty()) {
    const auto [mn, mx] = std::minmax_element(values.begin(), values.end());
    lo = *mn;
    hi = *mx;
  }
  h.lo = lo;
  h.hi = hi;
  h.counts.assign(bins, 0);
  const double width = (hi - lo) / double(bins);
  for (double v : values) {
    if (v < lo) ++h.below;
    else if (v > hi) ++h.above;
    else {
      std::size_t b = width > 0 ? static_cast<std::size_t>((v - lo) / width) : 0;
      h.counts[std::min(b, bins - 1)] += 1;
    }
  }
  return h;
}

// The margins y_n f_n, written into `out` (resized).
inline void margins(std::span<const double> y, std::span<const double> f, std::vector<double>& out) {
  if (y.size() != f.size()) throw std::invalid_argument("rhonet::margins: y and f differ in length");
  out.resize(y.size());
  for (std::size_t n = 0; n < y.size(); ++n) out[n] = y[n] * f[n];
}

// The statistics of given margins (`scratch`, sorted afterwards) with the sums that define
// rho_eq: sum_yf = sum_n <y_n, f_n>, sum_f2 = sum_n ||f_n||^2, sum_abs_f = sum_n ||f_n||.
// The binary and multi-class observers share it.
inline margin_observation margin_statistics(std::vector<double>& scratch, double sum_yf, double sum_f2,
                                            double sum_abs_f, double rho, double lambda) {
  margin_observation o;
  const std::size_t N = scratch.size();
  o.count = N;
  if (N == 0) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    o.min = o.max = o.mean = o.stddev = o.cv = o.mean_abs_f = o.rho_eq = o.rho_eq0 = o.rho_margin_mean = nan;
    o.quantiles.fill(nan);
    return o;
  }
  double s = 0;
  for (double m : scratch) s += m;
  o.sum_yf = sum_yf;
  o.sum_f2 = sum_f2;
  o.mean = s / double(N);
  o.mean_abs_f = sum_abs_f / double(N);
  double v = 0;
  for (double m : scratch) v += (m - o.mean) * (m - o.mean);
  o.stddev = std::sqrt(v / double(N));
  o.cv = o.stddev / o.mean;
  o.rho_eq = sum_yf / (lambda + sum_f2);
  o.rho_eq0 = sum_yf / sum_f2;
  o.rho_margin_mean = rho * o.mean;
  std::sort(scratch.begin(), scratch.end());
  o.min = scratch.front();
  o.max = scratch.back();
  for (std::size_t k = 0; k < margin_quantile_count; ++k)
    o.quantiles[k] = sorted_quantile(scratch, double(k) / 100.0);
  o.quantiles.front() = o.min;
  o.quantiles.back() = o.max;
  return o;
}

// Binary margins y_n f_n. `scratch` holds the sorted margins afterwards (reuse it to avoid
// allocation).
inline margin_observation observe_margins(std::span<const double> y, std::span<const double> f,
                                          double rho, double lambda, std::vector<double>& scratch) {
  margins(y, f, scratch);
  double s = 0, sa = 0, s2 = 0;
  for (std::size_t n = 0; n < scratch.size(); ++n) {
    s += scratch[n];
    sa += std::abs(f[n]);
    s2 += f[n] * f[n];
  }
  return margin_statistics(scratch, s, s2, sa, rho, lambda);
}

// Multi-class margins from outputs g (N x C, row-major) and class ids: with f_n = g_n / rho
// and one-hot y_n, the margin is f_{n, y_n} - max_{c != y_n} f_{n, c}; sum_yf = sum_n f_{n, y_n},
// sum_f2 = sum_n ||f_n||^2 and mean_abs_f is the mean of ||f_n||.
template <class T>
margin_observation observe_multiclass_margins(const T* g, std::size_t N, std::size_t C, std::span<const int> cls,
                                              double rho, double lambda, std::vector<double>& scratch) {
  if (cls.size() != N) throw std::invalid_argument("rhonet::observe_multiclass_margins: one class per row");
  scratch.resize(N);
  double s = 0, sa = 0, s2 = 0;
  for (std::size_t n = 0; n < N; ++n) {
    const T* row = g + n * C;
    const std::size_t y = std::size_t(cls[n]);
    double other = -std::numeric_limits<double>::infinity(), sq = 0;
    for (std::size_t c = 0; c < C; ++c) {
      const double fc = double(row[c]) / rho;
      sq += fc * fc;
      if (c != y) other = std::max(other, fc);
    }
    const double fy = double(row[y]) / rho;
    scratch[n] = fy - other;
    s += fy;
    s2 += sq;
    sa += std::sqrt(sq);
  }
  return margin_statistics(scratch, s, s2, sa, rho, lambda);
}

inline margin_observation observe_margins(std::span<const double> y, std::span<const double> f,
                                          double rho, double lambda) {
  std::vector<double> scratch;
  return observe_margins(y, f, rho, lambda, scratch);
}

}  // namespace rhonet
