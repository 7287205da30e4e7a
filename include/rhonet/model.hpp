// model<T>: a network behind a small type-erased interface, the compile boundary of rhonet.
//
// A network type (basic_network<T, ...>) is fully static: its forward and backward passes are
// instantiated per type and inlined. Everything above it (the trainer, its observers,
// evaluation, checkpoints) needs only what this interface offers and so depends on the
// element type T alone: it is compiled once per T, not once per network, and can be
// instantiated explicitly in one translation unit (docs/architecture.md, "The top floor").
// One virtual call per forward or backward pass of a whole batch costs nothing measurable.
//
//   auto net = std::make_unique<my_net>();
//   rhonet::model_of<my_net> m(*net);        // refers to net; net must outlive m
//   rhonet::trainer<float> t(m, train_set, options);
#pragma once

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <rhonet/core/finite.hpp>
#include <rhonet/core/parameter.hpp>
#include <rhonet/core/tensor.hpp>
#include <rhonet/network.hpp>
#include <rhonet/observe/norms.hpp>
#include <rhonet/optim/in_backward.hpp>
#include <rhonet/optim/optimizer.hpp>

namespace rhonet {

template <class T>
class model {
 public:
  using value_type = T;
  virtual ~model() = default;

  virtual std::string signature() const = 0;
  virtual std::size_t input_size() const = 0;
  virtual std::size_t output_size() const = 0;
  // Width of the features entering the last layer (the input of neural collapse).
  virtual std::size_t feature_size() const = 0;

  // The network's forward and backward passes (basic_network::forward / backward).
  virtual const matrix<T>& forward(const matrix<T>& x, mode m) = 0;
  virtual void backward(const matrix<T>& dout) = 0;
  // Backward with opt's step inside it (optim/in_backward.hpp): bit-identical to
  // backward(dout); opt.step().
  virtual void backward_and_step(const matrix<T>& dout, optimizer<T>& opt) = 0;
  // The features entering the last layer in the last forward pass (batch x feature_size()).
  virtual const matrix<T>& features() const = 0;

  virtual std::vector<parameter<T>*> parameters() = 0;
  virtual std::vector<state_buffer<T>*> buffers() = 0;

  // rho_k of every weight layer, rho, the plain product and the group's BN-aware rho.
  virtual norm_observation norms() const = 0;
  virtual double rho() const = 0;
  // The last layer's weight rows flattened over the features (output_size() x
  // feature_size(), row-major) when it is a dense layer or a convolution acting as one;
  // else empty.
  virtual std::vector<double> last_layer_rows() const = 0;

  // The compile-time analysis, as 1-based indices into the weight layers (norm_1..norm_K).
  virtual std::vector<std::size_t> factoring_layers() const = 0;
  virtual std::vector<std::size_t> scale_invariant_layers() const = 0;
  virtual int degree_in_input() const = 0;
  virtual bool factors_exactly() const = 0;
  // Whether a layer normalises with batch statistics in train mode (a batch norm): such a
  // network cannot train on a batch of one sample.
  virtual bool uses_batch_statistics() const = 0;
  // Data-parallel training: batch statistics over the group's global batch
  // (basic_network::set_process_group); nullptr for this process alone. Not pure, so that
  // a model written before it still compiles; such a model cannot join a group.
  virtual void set_process_group(const process_group* group) {
    if (group)
      throw std::logic_error("rhonet::model: this model does not implement set_process_group, so it cannot "
                             "train in a process group");
  }

  // "output of layer 3 (batch_norm<>)" for the first layer whose last output holds NaN or
  // Inf; empty if none (what the fault guard reports).
  virtual std::string non_finite_activation() const = 0;
};

namespace detail {
template <class Net>
std::vector<std::size_t> weight_layers_where(bool factoring) {
  std::vector<std::size_t> out;
  std::size_t k = 0;
  for (std::size_t i = 0; i < Net::layer_count; ++i) {
    if (!Net::homogeneity.has_weights[i]) continue;
    ++k;
    if (factoring ? Net::homogeneity.factors_out(i) : Net::homogeneity.scale_invariant(i)) out.push_back(k);
  }
  return out;
}

template <class L>
std::string spec_name_of() {
  if constexpr (requires { L::name(); }) return L::name();
  else return "?";
}
}  // namespace detail

// The model interface of one network type; refers to the network, which must outlive it.
template <class Net>
class model_of : public model<typename Net::value_type> {
 public:
  using T = typename Net::value_type;
  using network_type = Net;

  explicit model_of(Net& net) : net_(&net) {}
  Net& network() { return *net_; }
  const Net& network() const { return *net_; }

  std::string signature() const override { return Net::signature(); }
  std::size_t input_size() const override { return Net::input_size; }
  std::size_t output_size() const override { return Net::output_size; }
  std::size_t feature_size() const override { return last_layer::in_shape::size; }

  const matrix<T>& forward(const matrix<T>& x, mode m) override { return net_->forward(x, m); }
  void backward(const matrix<T>& dout) override { net_->backward(dout); }
  void backward_and_step(const matrix<T>& dout, optimizer<T>& opt) override {
    rhonet::backward_and_step(*net_, dout, opt);
  }
  const matrix<T>& features() const override {
    if constexpr (Net::layer_count >= 2) return net_->template activation<Net::layer_count - 2>();
    else return net_->input();
  }

  std::vector<parameter<T>*> parameters() override { return net_->parameters(); }
  std::vector<state_buffer<T>*> buffers() override { return net_->buffers(); }

  norm_observation norms() const override { return observe_norms(*net_); }
  double rho() const override { return double(net_->rho()); }
  std::vector<double> last_layer_rows() const override {
    using L = last_layer;
    constexpr std::size_t F = L::in_shape::size, C = Net::output_size;
    if constexpr (L::has_weights && !batch_norm_like<L>) {
      const auto& w = net_->template layer<Net::layer_count - 1>().weight().value;
      if (w.shape()[0] != C || w.shape()[1] != F) return {};  // a conv that is not fully connected
      return std::vector<double>(w.begin(), w.end());
    } else {
      return {};
    }
  }

  std::vector<std::size_t> factoring_layers() const override { return detail::weight_layers_where<Net>(true); }
  std::vector<std::size_t> scale_invariant_layers() const override {
    return detail::weight_layers_where<Net>(false);
  }
  int degree_in_input() const override { return Net::degree_in_input; }
  bool factors_exactly() const override { return Net::homogeneity.factors_exactly(); }
  bool uses_batch_statistics() const override {
    bool any = false;
    net_->for_each_layer([&](const auto& l) { any = any || normaliser<std::remove_cvref_t<decltype(l)>>; });
    return any;
  }
  void set_process_group(const process_group* group) override { net_->set_process_group(group); }

  std::string non_finite_activation() const override {
    return first_non_finite_output(std::make_index_sequence<Net::layer_count>{});
  }

 private:
  using last_layer = typename Net::template layer_type<Net::layer_count - 1>;

  template <std::size_t... I>
  std::string first_non_finite_output(std::index_sequence<I...>) const {
    std::string found;
    auto check = [&]<std::size_t K>(std::integral_constant<std::size_t, K>) {
      const auto& a = net_->template activation<K>();
      if (found.empty() && !all_finite(a.data(), a.size()))
        found = "output of layer " + std::to_string(K + 1) + " (" +
                detail::spec_name_of<typename Net::template spec_type<K>>() + ")";
    };
    (check(std::integral_constant<std::size_t, I>{}), ...);
    return found;
  }

  Net* net_;
};

template <class Net>
model_of<Net> make_model(Net& net) {
  return model_of<Net>(net);
}

namespace detail {
template <class Net>
struct network_holder {
  std::unique_ptr<Net> net = std::make_unique<Net>();
};
// A model that owns its network (built first, so the model_of base can refer to it).
template <class Net>
class owning_model final : private network_holder<Net>, public model_of<Net> {
 public:
  owning_model() : model_of<Net>(*this->net) {}
};
}  // namespace detail

// A new network of type Net (default-initialised parameters) behind the model interface,
// owned by the returned pointer: the way to hand networks of many types to code that depends
// on the element type only (e.g. a program's network table, one translation unit each).
template <class Net>
std::unique_ptr<model<typename Net::value_type>> make_unique_model() {
  return std::make_unique<detail::owning_model<Net>>();
}

}  // namespace rhonet
