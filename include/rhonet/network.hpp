// network<input<...>, Layer...>: a neural network as a type. The specs are bound, in order,
// to the static output shape of the layer before; shape errors are compile errors naming
// the layer position (1 = first after the input) and the sizes.
//
// Buffers: one activation and one gradient matrix per layer boundary, for each of the last
// two batch sizes; a step allocates nothing once both sizes of an epoch have been seen.
// forward() keeps a pointer to its input until backward(): keep the input alive in between.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <rhonet/core/checks.hpp>
#include <rhonet/layers/layer.hpp>
#include <rhonet/core/norms.hpp>
#include <rhonet/core/parameter.hpp>
#include <rhonet/core/process_group.hpp>
#include <rhonet/core/shape.hpp>
#include <rhonet/core/tensor.hpp>
#include <rhonet/homogeneity.hpp>

namespace rhonet {

namespace check {
// Arguments: <layer position, the offending type>. Value always true: reported once here.
template <std::size_t Position, class S, bool Ok = layer_spec<S>>
struct argument_is_layer_spec {
  static_assert(Ok, "rhonet: a network argument is not a layer spec. Layers are dense<N>, "
                    "conv2d<...>, batch_norm<>, relu, flatten, global_avg_pool, max_pool2d<K>, "
                    "avg_pool2d<K>, dropout<P>, weight_norm<...>, or a type of your own with "
                    "`using spec_tag = rhonet::layer_spec_tag`, input_degree, has_weights, "
                    "weight_degree, name() and bind (docs/guide.md); arguments: <layer "
                    "position, the type>");
  static constexpr bool value = true;
};

// The argument after the element type must be input<...>. The common slip network<double,
// ...> (network is always float) gets its own message. Arguments: <the type>.
template <class Input, bool Ok = input_spec<Input>, bool Scalar = std::is_arithmetic_v<Input>>
struct network_starts_with_input {
  static_assert(Ok || !Scalar,
                "rhonet: network<...> is float and takes input<...> first; for another element "
                "type write rhonet::basic_network<double, rhonet::input<...>, layers...> or "
                "Net::rebind<double>; arguments: <the type given instead of input<...>>");
  static_assert(Ok || Scalar, "rhonet: a network starts with rhonet::input<D> (flat) or "
                              "rhonet::input<C, H, W> (image); arguments: <the type given>");
  static constexpr bool value = true;
};
}  // namespace check

namespace detail {

// Stands in for a template argument that is not a layer spec, so that the one clear error
// from check::argument_is_layer_spec is not followed by a cascade.
template <class T, std::size_t Position, class In>
struct not_a_layer {
  using value_type = T;
  using in_shape = In;
  using out_shape = In;
  static constexpr int input_degree = 1;
  static constexpr bool has_weights = false;
  static constexpr int weight_degree = 0;
  void resize(std::size_t) {}
  void forward(const matrix<T>&, matrix<T>&, mode) {}
  void backward(const matrix<T>&, const matrix<T>&, const matrix<T>&, matrix<T>*) {}
  template <class F> void for_each_param(F&&) {}
  template <class F> void for_each_buffer(F&&) {}
};

template <class S, class T, std::size_t Position, class In>
struct bind_one {
  using type = not_a_layer<T, Position, In>;
};
template <layer_spec S, class T, std::size_t Position, class In>
struct bind_one<S, T, Position, In> {
  using type = typename S::template bind<T, Position, In>;
};

// Check = false (the input was already reported as wrong) binds every spec to a stand-in
// without further errors.
template <class T, std::size_t Position, class InShape, bool Check, class... Specs>
struct bind_layers {
  using type = std::tuple<>;
};

template <class T, std::size_t Position, class InShape, bool Check, class S, class... Rest>
struct bind_layers<T, Position, InShape, Check, S, Rest...> {
  static_assert(check::argument_is_layer_spec<Position, S, !Check || layer_spec<S>>::value);
  using layer = std::conditional_t<Check, typename bind_one<S, T, Position, InShape>::type,
                                   not_a_layer<T, Position, InShape>>;
  using type = decltype(std::tuple_cat(
      std::declval<std::tuple<layer>>(),
      std::declval<typename bind_layers<T, Position + 1, typename layer::out_shape, Check, Rest...>::type>()));
};

// The output shape of the last layer; the input's for no layers (reported by
// check::network_has_layers), so that the error does not cascade.
template <class Tuple, class In>
struct last_out_shape {
  using type = typename std::tuple_element_t<std::tuple_size_v<Tuple> - 1, Tuple>::out_shape;
};
template <class In>
struct last_out_shape<std::tuple<>, In> {
  using type = In;
};

template <class Input>
struct input_shape_of {
  using type = shape<1>;  // stands in after check::network_starts_with_input has reported
};
template <input_spec Input>
struct input_shape_of<Input> {
  using type = typename Input::shape_type;
};

template <class Tuple>
struct analysis_of;
template <class... Layers>
struct analysis_of<std::tuple<Layers...>> {
  static_assert((bound_layer<Layers> && ...), "rhonet: a bound layer misses part of the layer contract");
  static constexpr auto value = analyse_homogeneity<Layers...>;
};

template <class T> inline const char* scalar_name() { return std::is_same_v<T, float> ? "float" : std::is_same_v<T, double> ? "double" : "?"; }

}  // namespace detail

// rho_k of a weight layer: ||W_k||_F, or the scale of a weight-normalised layer, or ||gamma||
// of an affine batch norm.
template <class L>
auto layer_norm(const L& layer) {
  using T = typename L::value_type;
  if constexpr (requires { layer.scale(); }) {
    return std::abs(layer.scale().value(0, 0));
  } else {
    return static_cast<T>(frobenius_norm(layer.weight().value));
  }
}

template <class T, class Input, class... Specs>
class basic_network {
  static_assert(check::network_starts_with_input<Input>::value);
  static_assert(check::network_has_layers<sizeof...(Specs)>::value);

 public:
  using value_type = T;
  using input_type = Input;
  using layers_type = typename detail::bind_layers<T, 1, typename detail::input_shape_of<Input>::type,
                                                   input_spec<Input>, Specs...>::type;
  template <class U> using rebind = basic_network<U, Input, Specs...>;

  static constexpr std::size_t layer_count = sizeof...(Specs);
  template <std::size_t I> using layer_type = std::tuple_element_t<I, layers_type>;
  template <std::size_t I> using spec_type = std::tuple_element_t<I, std::tuple<Specs...>>;
  using in_shape = typename detail::input_shape_of<Input>::type;
  using out_shape = typename detail::last_out_shape<layers_type, in_shape>::type;
  static constexpr std::size_t input_size = in_shape::size;
  static constexpr std::size_t output_size = out_shape::size;

  // The compile-time homogeneity analysis (homogeneity.hpp), indexed by layer (0-based).
  static constexpr auto homogeneity = detail::analysis_of<layers_type>::value;
  static constexpr int degree_in_input = homogeneity.degree_in_input();
  static constexpr std::size_t weight_layer_count = homogeneity.weight_layer_count();
  static constexpr std::size_t factoring_layer_count = homogeneity.factoring_layer_count();

  static std::string signature() {
    std::string s = std::string("network<") + detail::scalar_name<T>() + ",";
    if constexpr (input_spec<Input>) s += Input::name();
    ((s += ',', s += spec_name<Specs>()), ...);  // appends: "," + name trips a g++ 12 warning
    return s + ">";
  }

  // Runs the network on a batch (rows of x), returns the output (batch x output_size). The
  // mode has no default: train mode uses batch statistics in batch_norm (and updates its
  // running ones) and drops units in dropout; mode::eval is inference.
  const matrix<T>& forward(const matrix<T>& x, mode m) {
    if (x.dimension() != 2 || x.shape()[1] != input_size)
      throw std::invalid_argument("rhonet::network::forward: expected input of " +
                                  std::to_string(input_size) + " columns, got " +
                                  std::to_string(x.shape()[1]));
    prepare(x.shape()[0]);
    input_ = &x;
    forward_all(std::make_index_sequence<layer_count>{}, m);
    return std::get<layer_count>(acts_);
  }

  // Backpropagates d loss / d output through the last forward pass: sets every parameter's
  // grad (overwrites, no accumulation). With input_gradient, input_grad() is set too.
  void backward(const matrix<T>& dout, bool input_gradient = false) {
    backward(dout, input_gradient, [](parameter<T>&) {});
  }
  // The same, calling ready(p) for each parameter p as soon as its grad is final: after its
  // layer's backward, which is the last code that reads p's value in this pass. Updating p in
  // ready (an optimizer's update(i)) gives the same result as updating after the pass.
  template <class Ready>
  void backward(const matrix<T>& dout, bool input_gradient, Ready&& ready) {
    if (!input_ || dout.shape()[0] != batch_ || dout.shape()[1] != output_size)
      throw std::invalid_argument("rhonet::network::backward: expected a gradient of shape (" +
                                  std::to_string(batch_) + ", " + std::to_string(output_size) +
                                  ") after forward()");
    backward_all(std::make_index_sequence<layer_count>{}, dout, input_gradient, ready);
  }

  const matrix<T>& output() const { return std::get<layer_count>(acts_); }
  // The input of the last forward pass (it must still be alive).
  const matrix<T>& input() const { return *input_; }
  const matrix<T>& input_grad() const { return std::get<0>(grads_); }
  // Activation after layer I (0-based), from the last forward pass.
  template <std::size_t I> const matrix<T>& activation() const { return std::get<I + 1>(acts_); }

  template <std::size_t I> layer_type<I>& layer() { return std::get<I>(layers_); }
  template <std::size_t I> const layer_type<I>& layer() const { return std::get<I>(layers_); }

  template <class F> void for_each_layer(F&& f) { std::apply([&](auto&... l) { (f(l), ...); }, layers_); }
  template <class F> void for_each_layer(F&& f) const { std::apply([&](const auto&... l) { (f(l), ...); }, layers_); }

  // Data-parallel training (parallel/data_parallel.hpp): the layers that normalise with
  // batch statistics use the global batch of the group's processes. nullptr: this process's
  // batch alone (the default).
  void set_process_group(const process_group* group) {
    for_each_layer([&](auto& l) {
      if constexpr (requires { l.set_process_group(group); }) l.set_process_group(group);
    });
  }

  std::vector<parameter<T>*> parameters() {
    std::vector<parameter<T>*> ps;
    for_each_layer([&](auto& l) { l.for_each_param([&](parameter<T>& p) { ps.push_back(&p); }); });
    return ps;
  }
  std::vector<state_buffer<T>*> buffers() {
    std::vector<state_buffer<T>*> bs;
    for_each_layer([&](auto& l) { l.for_each_buffer([&](state_buffer<T>& b) { bs.push_back(&b); }); });
    return bs;
  }

  // Layer positions (1-based, as in parameter names) of the weight layers, in order.
  static std::vector<std::size_t> weight_layer_positions() {
    std::vector<std::size_t> ps;
    for (std::size_t i = 0; i < layer_count; ++i)
      if (homogeneity.has_weights[i]) ps.push_back(i + 1);
    return ps;
  }

  // rho_k of every weight layer, in order.
  std::vector<T> layer_norms() const {
    std::vector<T> ns;
    ns.reserve(weight_layer_count);
    for_each_weight_layer([&](const auto& l, std::size_t) { ns.push_back(layer_norm(l)); });
    return ns;
  }

  // rho: the product of the norms of the layers the output is homogeneous of degree 1 in
  // (compile-time analysis), so that g = rho * f exactly.
  T rho() const {
    T r = 1;
    for_each_weight_layer([&](const auto& l, std::size_t i) {
      if (homogeneity.factors_out(i)) r *= layer_norm(l);
    });
    return r;
  }

  // The plain product of all weight-layer norms (the paper's rho for nets without BN).
  T norm_product() const {
    T r = 1;
    for_each_weight_layer([&](const auto& l, std::size_t) { r *= layer_norm(l); });
    return r;
  }

  // f(x) = g(x) / rho: the output of the same network with every factoring layer replaced by
  // W_k / ||W_k||, computed without copying the network. The mode is that of forward().
  void normalized_output(const matrix<T>& x, matrix<T>& f, mode m) {
    const matrix<T>& g = forward(x, m);
    const T r = rho();
    if (f.shape() != g.shape()) f.resize(g.shape());
    for (std::size_t i = 0; i < g.size(); ++i) f.data()[i] = g.data()[i] / r;
  }

 private:
  template <class S>
  static std::string spec_name() {
    if constexpr (layer_spec<S>) return S::name();
    else return "?";
  }

  template <class F>
  void for_each_weight_layer(F&& f) const {
    std::size_t i = 0;
    for_each_layer([&](const auto& l) {
      if constexpr (std::remove_cvref_t<decltype(l)>::has_weights) f(l, i);
      ++i;
    });
  }

  template <std::size_t I>
  static constexpr std::size_t boundary_size() {
    if constexpr (I == 0) return input_size;
    else return layer_type<I - 1>::out_shape::size;
  }

  // Two sets of boundary buffers, for the last two batch sizes: an epoch alternates between
  // the full batch and its partial last batch without allocating once both exist.
  void prepare(std::size_t batch) {
    if (batch == batch_) return;
    std::swap(acts_, spare_acts_);
    std::swap(grads_, spare_grads_);
    std::swap(batch_, spare_batch_);
    if (batch == batch_) return;
    batch_ = batch;
    prepare_all(std::make_index_sequence<layer_count + 1>{});
  }

  template <std::size_t... I>
  void prepare_all(std::index_sequence<I...>) {
    ((acts_[I] = I == 0 ? matrix<T>() : matrix<T>::from_shape({batch_, boundary_size<I>()}),
      grads_[I] = matrix<T>::from_shape({batch_, boundary_size<I>()})), ...);
    std::apply([&](auto&... l) { (l.resize(batch_), ...); }, layers_);
  }

  template <std::size_t I>
  const matrix<T>& layer_input() const {
    if constexpr (I == 0) return *input_;
    else return acts_[I];
  }

  // Layer I and a relu right after it run as one fused kernel when layer I offers
  // forward_relu/backward_relu (batch_norm does): one sweep over the activations instead of
  // two each way. Both boundaries keep their values except the gradient between them.
  template <std::size_t I>
  static constexpr bool fuses_relu_after() {
    if constexpr (I + 1 >= layer_count) {
      return false;
    } else {
      return is_relu_layer<layer_type<I + 1>> && fuses_relu<layer_type<I>>;
    }
  }
  template <std::size_t I>
  static constexpr bool fused_into_previous() {
    if constexpr (I == 0) return false;
    else return fuses_relu_after<I - 1>();
  }
  template <std::size_t... I>
  void forward_all(std::index_sequence<I...>, mode m) {
    (forward_one<I>(m), ...);
  }
  template <std::size_t I>
  void forward_one(mode m) {
    if constexpr (fused_into_previous<I>())
      return;
    else if constexpr (fuses_relu_after<I>())
      std::get<I>(layers_).forward_relu(layer_input<I>(), acts_[I + 1], acts_[I + 2], m);
    else
      std::get<I>(layers_).forward(layer_input<I>(), acts_[I + 1], m);
  }

  template <std::size_t... I, class Ready>
  void backward_all(std::index_sequence<I...>, const matrix<T>& dout, bool input_gradient, Ready& ready) {
    (backward_one<layer_count - 1 - I>(dout, input_gradient, ready), ...);
  }

  template <std::size_t I, class Ready>
  void backward_one(const matrix<T>& dout, bool input_gradient, Ready& ready) {
    matrix<T>* dx = I == 0 ? (input_gradient ? &grads_[0] : nullptr) : &grads_[I];
    if constexpr (fused_into_previous<I>()) {
      return;  // a parameter-free ReLU, done by the layer before it
    } else if constexpr (fuses_relu_after<I>()) {
      const matrix<T>& dr = I + 2 == layer_count ? dout : grads_[I + 2];
      std::get<I>(layers_).backward_relu(acts_[I + 1], acts_[I + 2], dr, dx);
    } else {
      const matrix<T>& dy = I + 1 == layer_count ? dout : grads_[I + 1];
      std::get<I>(layers_).backward(layer_input<I>(), acts_[I + 1], dy, dx);
    }
    std::get<I>(layers_).for_each_param(ready);
  }

  layers_type layers_;
  std::array<matrix<T>, layer_count + 1> acts_{}, grads_{}, spare_acts_{}, spare_grads_{};
  const matrix<T>* input_ = nullptr;
  std::size_t batch_ = 0, spare_batch_ = 0;
};

// The user-facing name: float by default; Net::rebind<double> for gradient checks.
// The pack's name is a hint: it is what g++ prints when a layer template is given without
// its brackets ("expected a type, got 'batch_norm'" at argument N = layer position N).
template <class Input, class... Layers__each_a_type__write_batch_norm_with_brackets>
using network = basic_network<float, Input, Layers__each_a_type__write_batch_norm_with_brackets...>;

}  // namespace rhonet
