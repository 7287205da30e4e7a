// The compile-time analysis of positive homogeneity (docs/architecture.md).
//
// Each layer declares its degree in its input (dense, conv, relu, pooling: 1; batch_norm:
// 0, scale-invariant) and, if it has weights, its degree in them (1, or not_homogeneous for
// an affine batch norm with a shift). Degrees compose along the network:
//   compose(d, e) = 0 if either is 0 (an invariant stays invariant), not_homogeneous if
//   either is, d * e otherwise.
// The output's degree in the weights of layer k is its own weight degree composed with the
// input degrees of every later layer: 1 if no normaliser follows (the norm of W_k factors out
// of the output), 0 if one does (the output is invariant to the scale of W_k). The layers of
// degree 1 are those whose Frobenius norms make up rho in g(x) = rho * f(x).
#pragma once

#include <array>
#include <cstddef>

#include <rhonet/layers/layer.hpp>

namespace rhonet {

constexpr int compose_degree(int d, int e) {
  if (d == 0) return 0;
  if (d == not_homogeneous) return not_homogeneous;
  if (e == 0) return 0;
  if (e == not_homogeneous) return not_homogeneous;
  return d * e;
}

template <std::size_t N>
struct homogeneity_analysis {
  std::array<int, N> input_degree{};
  std::array<bool, N> has_weights{};
  std::array<int, N> weight_degree{};

  static constexpr std::size_t layer_count = N;

  // g(a x) = a^degree g(x) for a > 0 (not_homogeneous when no such degree exists).
  constexpr int degree_in_input() const {
    int d = 1;
    for (std::size_t i = 0; i < N; ++i) d = compose_degree(d, input_degree[i]);
    return d;
  }

  // Degree of the output in W_k (meaningful only when has_weights[k]).
  constexpr int output_degree_in_weights(std::size_t k) const {
    int d = weight_degree[k];
    for (std::size_t i = k + 1; i < N; ++i) d = compose_degree(d, input_degree[i]);
    return d;
  }

  // ||W_k|| factors out of the output: g = ||W_k|| * (g with W_k / ||W_k||).
  constexpr bool factors_out(std::size_t k) const {
    return has_weights[k] && output_degree_in_weights(k) == 1;
  }

  // The output does not change when W_k is scaled (a normaliser follows W_k).
  constexpr bool scale_invariant(std::size_t k) const {
    return has_weights[k] && output_degree_in_weights(k) == 0;
  }

  constexpr std::size_t weight_layer_count() const {
    std::size_t c = 0;
    for (std::size_t i = 0; i < N; ++i) c += has_weights[i];
    return c;
  }

  constexpr std::size_t factoring_layer_count() const {
    std::size_t c = 0;
    for (std::size_t i = 0; i < N; ++i) c += factors_out(i);
    return c;
  }

  // g factors exactly as rho * f when every weight layer either factors out or is
  // scale-invariant (no non-homogeneous dependence on any weight).
  constexpr bool factors_exactly() const {
    for (std::size_t i = 0; i < N; ++i)
      if (has_weights[i] && !factors_out(i) && !scale_invariant(i)) return false;
    return true;
  }
};

template <class... Layers>
inline constexpr homogeneity_analysis<sizeof...(Layers)> analyse_homogeneity{
    {Layers::input_degree...}, {Layers::has_weights...}, {Layers::weight_degree...}};

}  // namespace rhonet
