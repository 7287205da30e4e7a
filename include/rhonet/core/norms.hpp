// Norm helpers. Sums of squares are accumulated in (at least) double so that float
// weights with many entries still give a norm accurate to float precision.
#pragma once

#include <cmath>
#include <cstddef>
#include <type_traits>

#include <rhonet/core/tensor.hpp>

namespace rhonet {

// Accumulator type: double for float/double, long double for long double.
template <class T>
using norm_acc_t = std::common_type_t<T, double>;

// Sum of squares of n contiguous values.
template <class T>
norm_acc_t<T> squared_norm(const T* data, std::size_t n) {
  norm_acc_t<T> s = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const norm_acc_t<T> v = data[i];
    s += v * v;
  }
  return s;
}

// ||A||_F = sqrt(sum_ij A_ij^2).
template <class T>
norm_acc_t<T> frobenius_norm(const matrix<T>& a) {
  return std::sqrt(squared_norm(a.data(), a.size()));
}

template <class T>
norm_acc_t<T> frobenius_norm(const vector<T>& a) {
  return std::sqrt(squared_norm(a.data(), a.size()));
}

}  // namespace rhonet
