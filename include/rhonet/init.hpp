// Parameter initialisation for the paper's experiments: every weight matrix drawn i.i.d.
// N(0, 1) and rescaled to a chosen Frobenius norm (0.1, 1, 5 in the paper), or Kaiming
// normal. Works on the list a network returns from parameters(), by role:
//   weight       : N(0,1) rescaled to exactly the layer's norm     (Kaiming: N(0, 2/fan_in))
//   wn_direction : N(0,1), left unnormalised (W = rho V/||V|| ignores its scale)
//                                                                  (Kaiming: N(0, 2/fan_in))
//   wn_scale     : the layer's norm rho_k (a 1x1 tensor)            (Kaiming: ||V||_F of its V)
//   bn_scale     : 1
//   bn_shift     : 0
//   bias         : 0 (both schemes; PyTorch draws it uniformly, here it starts neutral)
// A "weight layer" is a parameter of role weight or wn_scale (a weight-normalised layer's
// norm lives in its scale), counted in the order the list gives them.
// Randomness: one std::mt19937_64 seeded with `seed`, consumed in parameter order, row-major;
// normals by Box-Muller on its raw 64-bit output, so the values do not depend on the standard
// library's (implementation-defined) std::normal_distribution; they can differ across
// platforms only by libm's last-bit rounding of log/sin/cos.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <rhonet/core/norms.hpp>
#include <rhonet/core/parameter.hpp>
#include <rhonet/core/tensor.hpp>

namespace rhonet {

// Standard normal deviates, reproducible from the seed alone.
class normal_rng {
 public:
  explicit normal_rng(std::uint64_t seed = 0) : eng_(seed) {}

  double operator()() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    // 53-bit uniforms; u1 in (0, 1] keeps log(u1) finite, u2 in [0, 1).
    const double u1 = double((eng_() >> 11) + 1) * 0x1p-53;
    const double u2 = double(eng_() >> 11) * 0x1p-53;
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double theta = 2.0 * std::numbers::pi * u2;
    spare_ = r * std::sin(theta);
    has_spare_ = true;
    return r * std::cos(theta);
  }

  std::mt19937_64& engine() { return eng_; }

 private:
  std::mt19937_64 eng_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

enum class init_scheme { frobenius, kaiming_normal };

struct init_options {
  init_scheme scheme = init_scheme::frobenius;
  double norm = 1.0;                // Frobenius norm of every weight layer
  std::vector<double> layer_norms{};  // if non-empty: one per weight layer, overrides norm
  std::uint64_t seed = 0;
};

// fan_in of a logical shape {out, in, ...}: the product of all but the first extent
// ({out, in} -> in, {out, in, k, k} -> in*k*k).
inline std::size_t fan_in(const std::vector<std::size_t>& shape) {
  if (shape.size() < 2)
    throw std::invalid_argument("rhonet::fan_in: needs a shape {out, in, ...}, got " +
                                std::to_string(shape.size()) + " extent(s)");
  std::size_t f = 1;
  for (std::size_t i = 1; i < shape.size(); ++i) f *= shape[i];
  return f;
}

// Number of weight layers (roles weight and wn_scale) in the list.
template <class T>
std::size_t count_weight_layers(const std::vector<parameter<T>*>& params) {
  std::size_t n = 0;
  for (const parameter<T>* p : params)
    if (p != nullptr && (p->role == param_role::weight || p->role == param_role::wn_scale)) ++n;
  return n;
}

namespace detail {

template <class T>
void fill_normal(matrix<T>& m, normal_rng& rng, double stddev) {
  T* d = m.data();
  for (std::size_t k = 0, n = m.size(); k < n; ++k) d[k] = T(stddev * rng());
}

// Rescale in double, so the stored norm is the target up to T's rounding of each entry.
template <class T>
void rescale_to_norm(parameter<T>& p, double norm) {
  const double cur = double(frobenius_norm(p.value));
  if (norm == 0.0) {
    p.value.fill(T(0));
    return;
  }
  if (!(cur > 0.0))
    throw std::invalid_argument("rhonet::init: parameter '" + p.name + "' is empty, cannot give it norm " +
                                std::to_string(norm));
  const double f = norm / cur;
  T* d = p.value.data();
  for (std::size_t k = 0, n = p.value.size(); k < n; ++k) d[k] = T(double(d[k]) * f);
}

inline void check_norm(double norm, std::size_t layer) {
  if (!(norm >= 0.0) || !std::isfinite(norm))
    throw std::invalid_argument("rhonet::init: norm of weight layer " + std::to_string(layer) +
                                " must be finite and >= 0, got " + std::to_string(norm));
}

template <class T>
void check_nonnull(const std::vector<parameter<T>*>& params) {
  for (std::size_t i = 0; i < params.size(); ++i)
    if (params[i] == nullptr) throw std::invalid_argument("rhonet::init: parameter " + std::to_string(i) + " is null");
}

template <class T>
void check_wn_scale(const parameter<T>& p) {
  if (p.value.size() != 1)
    throw std::invalid_argument("rhonet::init: wn_scale '" + p.name + "' must be 1x1, has " +
                                std::to_string(p.value.size()) + " entries");
}

template <class T>
std::size_t param_fan_in(const parameter<T>& p) {
  // An unset logical shape falls back to the stored {rows, cols}.
  if (p.shape.empty()) return fan_in({p.value.shape()[0], p.value.shape()[1]});
  return fan_in(p.shape);
}

// The roles without randomness: BN scale 1, BN shift and biases 0.
template <class T>
void init_bn(parameter<T>& p) {
  if (p.role == param_role::bn_scale) p.value.fill(T(1));
  if (p.role == param_role::bn_shift || p.role == param_role::bias) p.value.fill(T(0));
}

}  // namespace detail

// Frobenius-norm initialisation with one norm per weight layer (norms.size() must equal
// count_weight_layers(params)).
template <class T>
void init_frobenius(const std::vector<parameter<T>*>& params, const std::vector<double>& norms,
                    std::uint64_t seed = 0) {
  detail::check_nonnull(params);
  const std::size_t layers = count_weight_layers(params);
  if (norms.size() != layers)
    throw std::invalid_argument("rhonet::init_frobenius: " + std::to_string(norms.size()) +
                                " norms given for " + std::to_string(layers) + " weight layers");
  for (std::size_t i = 0; i < norms.size(); ++i) detail::check_norm(norms[i], i);
  normal_rng rng(seed);
  std::size_t layer = 0;
  for (parameter<T>* p : params) {
    switch (p->role) {
      case param_role::weight:
        detail::fill_normal(p->value, rng, 1.0);
        detail::rescale_to_norm(*p, norms[layer++]);
        break;
      case param_role::wn_direction:
        detail::fill_normal(p->value, rng, 1.0);
        break;
      case param_role::wn_scale:
        detail::check_wn_scale(*p);
        p->value.fill(T(norms[layer++]));
        break;
      case param_role::bn_scale:
      case param_role::bn_shift:
      case param_role::bias:
        detail::init_bn(*p);
        break;
    }
  }
}

// The same norm for every weight layer.
template <class T>
void init_frobenius(const std::vector<parameter<T>*>& params, double norm, std::uint64_t seed = 0) {
  detail::check_nonnull(params);
  init_frobenius(params, std::vector<double>(count_weight_layers(params), norm), seed);
}

// Kaiming (He) normal for ReLU, fan_in mode: N(0, 2 / fan_in), fan_in from the logical shape.
// A weight-normalised layer gets its V that way and rho_k = ||V||_F, so W = V initially;
// the k-th wn_scale pairs with the k-th wn_direction in list order.
template <class T>
void init_kaiming_normal(const std::vector<parameter<T>*>& params, std::uint64_t seed = 0) {
  detail::check_nonnull(params);
  std::vector<parameter<T>*> dirs, scales;
  for (parameter<T>* p : params) {
    if (p->role == param_role::wn_direction) dirs.push_back(p);
    if (p->role == param_role::wn_scale) {
      detail::check_wn_scale(*p);
      scales.push_back(p);
    }
  }
  if (dirs.size() != scales.size())
    throw std::invalid_argument("rhonet::init_kaiming_normal: " + std::to_string(scales.size()) +
                                " wn_scale but " + std::to_string(dirs.size()) + " wn_direction parameters");
  normal_rng rng(seed);
  for (parameter<T>* p : params) {
    if (p->role == param_role::weight || p->role == param_role::wn_direction)
      detail::fill_normal(p->value, rng, std::sqrt(2.0 / double(detail::param_fan_in(*p))));
    detail::init_bn(*p);
  }
  for (std::size_t k = 0; k < dirs.size(); ++k) scales[k]->value.fill(T(frobenius_norm(dirs[k]->value)));
}

// Dispatch on init_options.
template <class T>
void initialize(const std::vector<parameter<T>*>& params, const init_options& opt) {
  if (opt.scheme == init_scheme::kaiming_normal) {
    init_kaiming_normal(params, opt.seed);
  } else if (opt.layer_norms.empty()) {
    init_frobenius(params, opt.norm, opt.seed);
  } else {
    init_frobenius(params, opt.layer_norms, opt.seed);
  }
}

}  // namespace rhonet
