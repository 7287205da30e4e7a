// weight_norm<dense<N>> / weight_norm<conv2d<...>>: the paper's per-layer Frobenius weight
// normalisation, W = rho_k V / ||V||_F, with the scale rho_k (a scalar) and the direction V
// as the trained parameters. The output is invariant to the scale of V and homogeneous of
// degree 1 in rho_k (when no normaliser follows).
#pragma once

#include <cmath>
#include <cstddef>
#include <string>

#include <rhonet/core/checks.hpp>
#include <rhonet/layers/layer.hpp>
#include <rhonet/core/norms.hpp>
#include <rhonet/core/parameter.hpp>
#include <rhonet/core/tensor.hpp>

namespace rhonet {

namespace check {
template <bool Ok>
struct weight_norm_wraps_dense_or_conv2d {
  static_assert(Ok, "rhonet: weight_norm<L> needs L = dense<N> or conv2d<...>, without bias");
  static constexpr bool value = true;  // reported above, once (core/checks.hpp)
};
}  // namespace check

namespace detail {

// The loops of weight_norm, compiled once per element type (not per layer).

// w = rho V / ||V|| for the n entries of V; returns ||V||.
template <class T>
T weight_norm_apply(const T* v, std::size_t n, T rho, T* w) {
  const T v_norm = static_cast<T>(std::sqrt(squared_norm(v, n)));
  const T k = rho / v_norm;
  for (std::size_t i = 0; i < n; ++i) w[i] = k * v[i];
  return v_norm;
}

// From dW: dV = (rho/||V||) (dW - <dW, V> V / ||V||^2); returns d rho = <dW, V>/||V||.
template <class T>
T weight_norm_gradients(const T* dw, const T* v, std::size_t n, T rho, T v_norm, T* dv) {
  T dot = 0;
  for (std::size_t i = 0; i < n; ++i) dot += dw[i] * v[i];
  const T k = rho / v_norm, c = dot / (v_norm * v_norm);
  for (std::size_t i = 0; i < n; ++i) dv[i] = k * (dw[i] - c * v[i]);
  return dot / v_norm;
}

}  // namespace detail

template <class T, std::size_t Position, class In, class InnerSpec>
class weight_norm_layer {
 public:
  using inner_type = typename InnerSpec::template bind<T, Position, In>;  // the wrapped layer
  using value_type = T;
  using in_shape = In;
  using out_shape = typename inner_type::out_shape;
  static constexpr std::size_t position = Position;
  static constexpr int input_degree = 1;
  static constexpr bool has_weights = true;
  static constexpr int weight_degree = 1;  // in rho_k; the direction V is scale-free

  // The wrapped layer's settings (a convolution's geometry).
  template <class F> void for_each_setting(F&& f) const {
    if constexpr (requires { inner_.for_each_setting(f); }) inner_.for_each_setting(f);
  }

  weight_norm_layer() {
    const auto& w = inner_.weight();
    const std::string p = "layer" + std::to_string(Position);
    v_ = parameter<T>(p + ".direction", param_role::wn_direction, w.shape, w.value.shape()[0],
                      w.value.shape()[1]);
    scale_ = parameter<T>(p + ".scale", param_role::wn_scale, {1}, 1, 1);
    scale_.value(0, 0) = T(1);
  }

  void resize(std::size_t batch) { inner_.resize(batch); }

  void forward(const matrix<T>& x, matrix<T>& y, mode m) {
    v_norm_ = detail::weight_norm_apply(v_.value.data(), v_.size(), scale_.value(0, 0),
                                        inner_.weight().value.data());
    inner_.forward(x, y, m);
  }

  // With dW from the inner layer: d rho_k = <dW, V>/||V||,
  // dV = (rho_k/||V||) (dW - <dW, V> V / ||V||^2): the gradient is tangent to the sphere.
  void backward(const matrix<T>& x, const matrix<T>& y, const matrix<T>& dy, matrix<T>* dx) {
    inner_.backward(x, y, dy, dx);
    scale_.grad(0, 0) = detail::weight_norm_gradients(inner_.weight().grad.data(), v_.value.data(), v_.size(),
                                                      scale_.value(0, 0), v_norm_, v_.grad.data());
  }

  template <class F> void for_each_param(F&& f) {
    f(scale_);
    f(v_);
  }
  template <class F> void for_each_buffer(F&&) {}

  parameter<T>& scale() { return scale_; }
  const parameter<T>& scale() const { return scale_; }
  parameter<T>& direction() { return v_; }
  const parameter<T>& direction() const { return v_; }
  // The effective W = rho_k V / ||V|| as of the last forward pass.
  const parameter<T>& weight() const { return inner_.weight(); }

 private:
  inner_type inner_;
  parameter<T> v_, scale_;
  T v_norm_ = T(1);
};

template <class Inner>
struct weight_norm {
  static_assert(check::weight_norm_wraps_dense_or_conv2d<requires { requires Inner::weight_normalizable; }>::value);
  using spec_tag = layer_spec_tag;
  static constexpr int input_degree = 1;
  static constexpr bool has_weights = true;
  static constexpr int weight_degree = 1;
  static std::string name() { return "weight_norm<" + Inner::name() + ">"; }
  template <class T, std::size_t Position, class In>
  using bind = weight_norm_layer<T, Position, In, Inner>;
};

}  // namespace rhonet

// With rhonet::compiled (compiled.hpp), compiled once in the library.
#define RHONET_WEIGHT_NORM_INSTANCES(KW, T)                                                          \
  KW T ::rhonet::detail::weight_norm_apply<T>(const T*, std::size_t, T, T*);                         \
  KW T ::rhonet::detail::weight_norm_gradients<T>(const T*, const T*, std::size_t, T, T, T*);
#if defined(RHONET_SEPARATE_COMPILATION)
RHONET_WEIGHT_NORM_INSTANCES(extern template, float)
RHONET_WEIGHT_NORM_INSTANCES(extern template, double)
#endif
