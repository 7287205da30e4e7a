// What a layer is, as C++20 concepts built from small named parts, so that a wrong
// template argument fails with "because 'rhonet::has_layer_spec_tag<int>' evaluated to false".
#pragma once

#include <concepts>
#include <cstddef>
#include <string>

#include <rhonet/core/shape.hpp>
#include <rhonet/core/tensor.hpp>

namespace rhonet {

// Homogeneity degrees: a layer is positively homogeneous of degree d in a quantity when
// scaling that quantity by a > 0 scales the layer's output by a^d. 0 means scale-invariant.
inline constexpr int not_homogeneous = -1;

struct layer_spec_tag {};
struct input_spec_tag {};

template <class S>
concept has_layer_spec_tag = std::same_as<typename S::spec_tag, layer_spec_tag>;

template <class S>
concept declares_input_degree = requires {
  { S::input_degree } -> std::convertible_to<int>;
};

template <class S>
concept declares_weights = requires {
  { S::has_weights } -> std::convertible_to<bool>;
  { S::weight_degree } -> std::convertible_to<int>;
};

template <class S>
concept has_name = requires {
  { S::name() } -> std::convertible_to<std::string>;
};

// A spec is what the user writes (dense<512>); the network binds it to its input shape.
template <class S>
concept layer_spec =
    has_layer_spec_tag<S> && declares_input_degree<S> && declares_weights<S> && has_name<S>;

// What parameter-free layers of degree 1 in their input (relu, flatten, pooling) share, both
// as specs and as bound layers.
struct parameter_free_layer {
  static constexpr int input_degree = 1;
  static constexpr bool has_weights = false;
  static constexpr int weight_degree = 0;
  void resize(std::size_t) {}
  template <class F> void for_each_param(F&&) {}
  template <class F> void for_each_buffer(F&&) {}
};

template <class I>
concept input_spec = std::same_as<typename I::spec_tag, input_spec_tag>;

// A bound layer: static shapes plus forward and backward on preallocated buffers.
template <class L>
concept has_static_shape = requires {
  L::in_shape::size;
  L::out_shape::size;
};

template <class L>
concept has_forward = requires(L& l, const matrix<typename L::value_type>& x,
                               matrix<typename L::value_type>& y) {
  l.forward(x, y, mode::train);
};

template <class L>
concept has_backward = requires(L& l, const matrix<typename L::value_type>& m,
                                matrix<typename L::value_type>* dx) {
  l.backward(m, m, m, dx);
};

template <class L>
concept bound_layer = has_static_shape<L> && has_forward<L> && has_backward<L> &&
                      declares_input_degree<L> && declares_weights<L>;

}  // namespace rhonet
