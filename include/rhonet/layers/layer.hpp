// The layer contract: what a layer is and every operation the network calls on one, as C++20
// concepts built from small named parts, so that a wrong template argument fails with
// "because 'rhonet::has_layer_spec_tag<int>' evaluated to false".
//
// How to write a layer (test/test_user_layer.cpp adds two from outside the library):
//
// 1. A *spec*, what users write in network<...>, e.g. `struct my_layer { ... };`:
//      using spec_tag = rhonet::layer_spec_tag;
//      static constexpr int  input_degree;   // positive homogeneity degree of the output in
//                                            // the input: 1 (dense, conv, relu, pooling),
//                                            // 0 (a normaliser) or rhonet::not_homogeneous
//      static constexpr bool has_weights;    // does it have a weight whose norm is a rho_k
//      static constexpr int  weight_degree;  // degree of its output in that weight (1, or
//                                            // not_homogeneous, e.g. with a shift or bias)
//      static std::string name();            // as in signatures: "my_layer<3>"
//      template <class T, std::size_t Position, class In> using bind = my_layer_impl<...>;
//    Parameter-free layers of degree 1 derive from rhonet::parameter_free_layer. The
//    degrees must be true: test_homogeneity checks the analysis against measurement, and a
//    new layer belongs in its table.
// 2. The *bound layer* (my_layer_impl<T, Position, In>), one per position and input shape:
//      using value_type = T; using in_shape = In; using out_shape = shape<...>;
//      the same four homogeneity members as the spec;
//      void resize(std::size_t batch);                          // before a new batch size
//      void forward(const matrix<T>& x, matrix<T>& y, mode m);  // y is preallocated
//      void backward(const matrix<T>& x, const matrix<T>& y, const matrix<T>& dy,
//                    matrix<T>* dx);    // set every parameter's grad (overwrite); dx may be
//                                       // null (first layer): skip the input gradient then
//      template <class F> void for_each_param(F&& f);           // f(parameter<T>&) each
//      template <class F> void for_each_buffer(F&& f);          // f(state_buffer<T>&) each
//    Buffers are row-major (batch x features; images NCHW flattened). A step at a steady
//    batch size must not allocate (test_alloc); keep workspaces as members sized in resize().
// 3. Optional capabilities, each named once here and used by the network when present:
//      fuses_relu     forward_relu / backward_relu: the layer and a following relu in one pass
//      has_norm       weight() or scale(): its rho_k, for the norms and rho
//      normaliser     running_var() and eps: a batch norm (the BN-aware rho, eval folding)
//      is_relu        a static constexpr bool on a relu layer, for the fusion above
//      settings       for_each_setting(f), calling f("name", value) for each setting the
//                     weights do not give (BN eps and momentum, conv stride and padding,
//                     dropout p): a model's manifest records them (io/layer_settings.hpp).
//                     A non-const overload passing T& lets load_checkpoint restore the
//                     ones that are the layer's run-time state (BN eps and momentum).
// Compile time: the bound layer is instantiated for every position and input shape it takes
// in every network. Keep its loops in a function or class templated on T alone, with the
// sizes as run-time arguments (as batch_norm_core and detail::dense_forward do), and the
// bound layer thin: the loops then compile once per element type, not once per layer
// (docs/architecture.md, "Compile boundary"). Keep a size static only where measurement
// shows the loop needs it (conv2d's im2col on small feature maps).
// Check the gradients with test/support/gradcheck.hpp (double, central differences).
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

template <class T>
struct parameter;
template <class T>
struct state_buffer;

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

// A bound layer: static shapes, forward and backward on preallocated buffers, its state.
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
concept has_resize = requires(L& l) { l.resize(std::size_t{}); };

template <class L>
concept visits_state = requires(L& l) {
  l.for_each_param([](parameter<typename L::value_type>&) {});
  l.for_each_buffer([](state_buffer<typename L::value_type>&) {});
};

template <class L>
concept bound_layer = has_static_shape<L> && has_forward<L> && has_backward<L> && has_resize<L> &&
                      visits_state<L> && declares_input_degree<L> && declares_weights<L>;

// Optional capabilities.
template <class L>
concept fuses_relu = requires(L& l, const matrix<typename L::value_type>& x, matrix<typename L::value_type>& y,
                              matrix<typename L::value_type>* d) {
  l.forward_relu(x, y, y, mode::train);
  l.backward_relu(x, x, x, d);
};

template <class L>
concept has_norm = requires(const L& l) { l.weight(); } || requires(const L& l) { l.scale(); };

template <class L>
concept normaliser = requires(const L& l) {
  l.running_var();
  l.eps;
};

template <class L>
concept is_relu_layer = requires { L::is_relu; } && L::is_relu;

}  // namespace rhonet
