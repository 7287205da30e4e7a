// observe_norms: the three rho of a network and its layer norms.
//   layer   rho_k of every weight layer, in order (net.layer_norms(): ||W_k||_F, the scale of
//           a weight-normalised layer, ||gamma|| of a scale batch norm)
//   rho     product over the layers the output is homogeneous of degree 1 in (net.rho(),
//           the compile-time factoring: g = rho * f exactly)
//   rho_all product of all rho_k (net.norm_product())
//   rho_bn  the group's BN-aware form: prod_k ||W_k|| * prod_j ||sqrt(gamma_j)|| / prod_j ||sigma_j||,
//           k over dense / conv / weight-normalised layers, j over batch-norm layers,
//           sigma_j = sqrt(running_var + eps) per channel, gamma_j = 1 (so ||sqrt(gamma_j)|| =
//           sqrt(channels)) when the batch norm has no affine scale. Equals rho_all without BN.
//   ratio   max_k rho_k / min_k rho_k (infinity if some rho_k is 0; 1 with no weight layer)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <type_traits>
#include <vector>

#include <rhonet/network.hpp>

namespace rhonet {

// A batch-norm layer: it has running statistics (the layer contract's `normaliser`).
template <class L>
concept batch_norm_like = normaliser<L>;

struct norm_observation {
  std::vector<double> layer;
  double rho = 1, rho_all = 1, rho_bn = 1, ratio = 1;
};

// ||sqrt(gamma)|| / ||sigma|| of one batch-norm layer.
template <batch_norm_like L>
double batch_norm_rho_factor(const L& bn) {
  const auto& var = bn.running_var();
  double s2 = 0, g = 0;
  for (std::size_t c = 0; c < var.size(); ++c) s2 += double(var[c]) + double(bn.eps);
  if constexpr (requires { bn.gamma(); }) {
    const auto& gamma = bn.gamma().value;
    for (std::size_t c = 0; c < gamma.size(); ++c) g += std::abs(double(gamma.data()[c]));
  } else {
    g = double(var.size());
  }
  return std::sqrt(g) / std::sqrt(s2);
}

template <class Net>
norm_observation observe_norms(const Net& net) {
  norm_observation o;
  for (auto v : net.layer_norms()) o.layer.push_back(double(v));
  o.rho = double(net.rho());
  o.rho_all = double(net.norm_product());
  o.rho_bn = 1;
  net.for_each_layer([&](const auto& l) {
    using L = std::remove_cvref_t<decltype(l)>;
    if constexpr (batch_norm_like<L>) o.rho_bn *= batch_norm_rho_factor(l);
    else if constexpr (L::has_weights) o.rho_bn *= double(layer_norm(l));
  });
  if (!o.layer.empty()) {
    const auto [mn, mx] = std::minmax_element(o.layer.begin(), o.layer.end());
    o.ratio = *mn > 0 ? *mx / *mn : std::numeric_limits<double>::infinity();
  }
  return o;
}

}  // namespace rhonet
