// Tensor aliases. Activations are row-major (batch x features); images are NCHW with
// C*H*W flattened into the feature dimension, so every activation is a 2-D tensor.
#pragma once

#include <cstddef>
#include <string>

#include <xtensor/xtensor.hpp>

namespace rhonet {

template <class T>
using matrix = xt::xtensor<T, 2, xt::layout_type::row_major>;

template <class T>
using vector = xt::xtensor<T, 1, xt::layout_type::row_major>;

// Training uses batch statistics in batch normalisation; evaluation uses running ones.
enum class mode { train, eval };

namespace detail {
// "(rows, cols)" for error messages.
template <class T>
std::string shape_string(const matrix<T>& m) {
  // Appended piece by piece: g++ 12 at -O3 warns falsely (-Wstringop-overflow) on "(" + ...
  std::string s = "(";
  s += std::to_string(m.shape()[0]);
  s += ", ";
  s += std::to_string(m.shape()[1]);
  s += ')';
  return s;
}
}  // namespace detail

}  // namespace rhonet
