// batch_norm<Affine>: per-feature (flat input) or per-channel (image input) normalisation,
// PyTorch's BatchNorm1d/2d semantics: biased batch variance in train mode, running mean and
// unbiased running variance (momentum 0.1) for eval mode. Scale-invariant in its input in
// train mode (degree 0, up to eps): this is what makes the output independent of the norm of
// every weight matrix that feeds a BN.
//
// Train mode on a batch of one sample is an std::invalid_argument. PyTorch raises only when
// a channel has a single value (BatchNorm1d on one sample); here an image batch of one is
// refused too, because it is nearly always inference that forgot mode::eval.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>

#include <rhonet/core/dispatch.hpp>
#include <rhonet/core/lanes.hpp>
#include <rhonet/core/parallel.hpp>
#include <rhonet/layers/layer.hpp>
#include <rhonet/core/parameter.hpp>
#include <rhonet/core/process_group.hpp>
#include <rhonet/core/shape.hpp>
#include <rhonet/core/tensor.hpp>

namespace rhonet {

// none: no parameters (PyTorch affine=False, the paper's setting). scale: y = gamma * xhat,
// homogeneous of degree 1 in gamma. scale_shift: y = gamma * xhat + beta (affine=True); beta
// acts as a bias, so the output is not homogeneous in gamma.
enum class affine { none, scale, scale_shift };

namespace detail {

// The work of a batch_norm layer on C channels of S values each (S = 1 for flat input), with
// C and S known at run time. The layer's position and shape change nothing in this code, so it
// is compiled once per element type and affine mode, not once per layer of every network
// (with rhonet::compiled, once in the library; docs/performance.md, "Compile time").
// batch_norm_layer below adds the static shape.
template <class T, affine Affine>
class batch_norm_core {
 public:
  static constexpr bool has_scale = Affine != affine::none;
  static constexpr bool has_shift = Affine == affine::scale_shift;

  T eps = T(1e-5);
  T momentum = T(0.1);

  // The settings the weights do not give (layer.hpp, "settings"): eps and momentum are the
  // layer's own, restored by load_checkpoint / load_model.
  template <class F> void for_each_setting(F&& f) {
    f("eps", eps);
    f("momentum", momentum);
    f("affine", affine_name());
  }
  template <class F> void for_each_setting(F&& f) const {
    f("eps", eps);
    f("momentum", momentum);
    f("affine", affine_name());
  }
  static constexpr const char* affine_name() {
    return Affine == affine::none ? "none" : Affine == affine::scale ? "scale" : "scale_shift";
  }

  batch_norm_core(std::size_t channels, std::size_t pixels, std::size_t position);
  ~batch_norm_core();  // out of line, like the constructor: compiled with the rest of the core
  batch_norm_core(const batch_norm_core&) = default;
  batch_norm_core(batch_norm_core&&) = default;
  batch_norm_core& operator=(const batch_norm_core&) = default;
  batch_norm_core& operator=(batch_norm_core&&) = default;

  // xhat only grows: a smaller (last) batch reuses it without allocating.
  void resize(std::size_t batch);

  void forward(const matrix<T>& x, matrix<T>& y, mode m);

  // BN followed by ReLU in one sweep: y is the BN output, r = max(y, 0). The network calls
  // this for every batch_norm directly followed by relu (docs/performance.md).
  void forward_relu(const matrix<T>& x, matrix<T>& y, matrix<T>& r, mode m);

  // Train mode: dx = gamma inv_std / M (M dy - sum(dy) - xhat sum(dy xhat)), M = n*S.
  // Eval mode: the statistics are constants, dx = gamma inv_std dy.
  void backward(const matrix<T>& x, const matrix<T>& y, const matrix<T>& dy, matrix<T>* dx);

  // The backward of BN followed by ReLU from the gradient dr at the ReLU's output: the
  // ReLU's mask (r > 0) is applied on the fly instead of in a sweep of its own.
  void backward_relu(const matrix<T>& y, const matrix<T>& r, const matrix<T>& dr, matrix<T>* dx);

  template <class F> void for_each_param(F&& f) {
    if constexpr (has_scale) f(gamma_);
    if constexpr (has_shift) f(beta_);
  }
  template <class F> void for_each_buffer(F&& f) {
    f(running_mean_);
    f(running_var_);
  }

  parameter<T>& gamma() requires has_scale { return gamma_; }
  const parameter<T>& gamma() const requires has_scale { return gamma_; }
  parameter<T>& weight() requires has_scale { return gamma_; }
  const parameter<T>& weight() const requires has_scale { return gamma_; }
  const vector<T>& running_mean() const { return running_mean_.value; }
  const vector<T>& running_var() const { return running_var_.value; }

  // Synchronised batch norm: in train mode, the statistics of the global batch of the
  // group's processes (each holding a slice), and the same running statistics on every
  // one. nullptr (the default): this process's batch alone.
  void set_process_group(const process_group* group) { group_ = group; }

 private:
  template <bool Relu>
  void forward_impl(const matrix<T>& x, matrix<T>& y, T* r, mode m);
  template <bool Relu>
  void backward_impl(const T* y, const T* r, const matrix<T>& dy, matrix<T>* dx);
  template <class Body>
  void for_channel_parts(std::size_t n, Body&& body) const;
  T batch_moments(const T* in, std::size_t n);
  std::invalid_argument batch_of_one() const;

  std::size_t C_, S_, position_;  // channels, values per channel, the layer's position
  parameter<T> gamma_, beta_;
  state_buffer<T> running_mean_, running_var_;
  matrix<T> xhat_;
  vector<T> mean_, var_, inv_std_, sum_dy_, sum_dy_xhat_, sync_;
  const process_group* group_ = nullptr;
  T count_ = 0;  // M of the last train-mode forward (global with a group)
  mode last_mode_ = mode::train;
};

template <class T, affine Affine>
batch_norm_core<T, Affine>::batch_norm_core(std::size_t channels, std::size_t pixels, std::size_t position)
    : C_(channels), S_(pixels), position_(position), xhat_(matrix<T>::from_shape({0, channels * pixels})),
      mean_(vector<T>::from_shape({channels})), var_(vector<T>::from_shape({channels})),
      inv_std_(vector<T>::from_shape({channels})), sum_dy_(vector<T>::from_shape({channels})),
      sum_dy_xhat_(vector<T>::from_shape({channels})), sync_(vector<T>::from_shape({2 * channels + 1})) {
  const std::string p = "layer" + std::to_string(position);
  running_mean_ = {p + ".running_mean", {channels}, vector<T>::from_shape({channels})};
  running_var_ = {p + ".running_var", {channels}, vector<T>::from_shape({channels})};
  running_mean_.value.fill(T(0));
  running_var_.value.fill(T(1));
  if constexpr (has_scale) {
    gamma_ = parameter<T>(p + ".gamma", param_role::bn_scale, {channels}, 1, channels);
    gamma_.value.fill(T(1));
  }
  if constexpr (has_shift) beta_ = parameter<T>(p + ".beta", param_role::bn_shift, {channels}, 1, channels);
}

template <class T, affine Affine>
batch_norm_core<T, Affine>::~batch_norm_core() = default;

template <class T, affine Affine>
void batch_norm_core<T, Affine>::resize(std::size_t batch) {
  if (has_scale && xhat_.shape()[0] < batch) xhat_ = matrix<T>::from_shape({batch, C_ * S_});
}

template <class T, affine Affine>
void batch_norm_core<T, Affine>::forward(const matrix<T>& x, matrix<T>& y, mode m) {
  forward_impl<false>(x, y, nullptr, m);
}

template <class T, affine Affine>
void batch_norm_core<T, Affine>::forward_relu(const matrix<T>& x, matrix<T>& y, matrix<T>& r, mode m) {
  forward_impl<true>(x, y, r.data(), m);
}

template <class T, affine Affine>
void batch_norm_core<T, Affine>::backward(const matrix<T>&, const matrix<T>& y, const matrix<T>& dy,
                                          matrix<T>* dx) {
  backward_impl<false>(y.data(), nullptr, dy, dx);
}

template <class T, affine Affine>
void batch_norm_core<T, Affine>::backward_relu(const matrix<T>& y, const matrix<T>& r, const matrix<T>& dr,
                                               matrix<T>* dx) {
  backward_impl<true>(y.data(), r.data(), dr, dx);
}

// With flat input (S = 1) the loops below run along c, so that they vectorise across
// features; with images, along the S pixels of a channel. S is tested once per part, outside
// the loops.
template <class T, affine Affine>
template <bool Relu>
void batch_norm_core<T, Affine>::forward_impl(const matrix<T>& x, matrix<T>& y, T* r, mode m) {
  const std::size_t n = x.shape()[0], C = C_, S = S_;
  // The statistics of one sample normalise it to 0 (flat input) and shift the running
  // statistics: almost always an inference call that forgot mode::eval. Checked before
  // any state changes.
  // With a process group the batch is the global one (checked once its size is known).
  if (m == mode::train && n == 1 && !group_) throw batch_of_one();
  resize(n);
  const T* in = x.data();
  T* out = y.data();
  T* xh = has_scale ? xhat_.data() : out;
  if (m == mode::train) {
    const T count = batch_moments(in, n);
    if (count == T(S)) throw batch_of_one();
    const T unbias = count > T(1) ? count / (count - T(1)) : T(1);
    for (std::size_t c = 0; c < C; ++c) {
      inv_std_[c] = T(1) / std::sqrt(var_[c] + eps);
      running_mean_.value[c] = (1 - momentum) * running_mean_.value[c] + momentum * mean_[c];
      running_var_.value[c] = (1 - momentum) * running_var_.value[c] + momentum * var_[c] * unbias;
    }
  } else {
    for (std::size_t c = 0; c < C; ++c) {
      mean_[c] = running_mean_.value[c];
      inv_std_[c] = T(1) / std::sqrt(running_var_.value[c] + eps);
    }
  }
  // Raw pointers in the loops (core/dispatch.hpp: the loops of this layer are compiled for
  // the baseline and for AVX2).
  const T* mean = mean_.data();
  const T* inv_std = inv_std_.data();
  const T* gamma = has_scale ? gamma_.value.data() : nullptr;
  const T* beta = has_shift ? beta_.value.data() : nullptr;
  // The channel's constants are loaded before the loop over its values: the stores through
  // xh, out and r could alias them, which would otherwise reload them for every value.
  // at: one value or 8 lanes (core/lanes.hpp).
  auto one = [&](auto at, T mu, T is, T g, T b) RHONET_KERNEL {
    const auto v = (at(in) - mu) * is;
    at.put(xh, v);
    auto u = v;
    if constexpr (has_scale) {
      u = g * v + b;
      at.put(out, u);
    }
    if constexpr (Relu) at.put(r, positive_part(u));
  };
  auto g_of = [&](std::size_t c) RHONET_KERNEL { return has_scale ? gamma[c] : T(1); };
  auto b_of = [&](std::size_t c) RHONET_KERNEL { return has_shift ? beta[c] : T(0); };
  for_channel_parts(n, [&](std::size_t c0, std::size_t c1) RHONET_KERNEL {
    if (S == 1) {
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t c = c0; c < c1; ++c) one(at_value<T>{i * C + c}, mean[c], inv_std[c], g_of(c), b_of(c));
      return;
    }
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t c = c0; c < c1; ++c) {
        const T mu = mean[c], is = inv_std[c], g = g_of(c), b = b_of(c);
        const std::size_t o = (i * C + c) * S;
        for_lanes<T>(o, S, [&](auto at) RHONET_KERNEL { one(at, mu, is, g, b); });
      }
  });
  last_mode_ = m;
}

template <class T, affine Affine>
template <bool Relu>
void batch_norm_core<T, Affine>::backward_impl(const T* y, const T* r, const matrix<T>& dy, matrix<T>* dx) {
  const std::size_t n = dy.shape()[0];
  const std::size_t C = C_, S = S_;
  const T* xh = has_scale ? xhat_.data() : y;
  const T* g = dy.data();
  // The gradient at the BN output: dy, or dy masked by the following ReLU (the load
  // unconditional, so that the loop vectorises without masked loads; layers/relu.hpp).
  auto grad = [&](auto at) RHONET_KERNEL {
    if constexpr (Relu) return keep_where_positive(at(r), at(g));
    else return at(g);
  };
  // Raw pointers in the loops, which are compiled for the baseline and for AVX2
  // (core/dispatch.hpp); the sums' order is lane_sum's on both (for S = 1, 0 + g is g).
  T* sum_dy = sum_dy_.data();
  T* sum_dy_xhat = sum_dy_xhat_.data();
  for_channel_parts(n, [&](std::size_t c0, std::size_t c1) RHONET_KERNEL {
    for (std::size_t c = c0; c < c1; ++c) sum_dy[c] = sum_dy_xhat[c] = T(0);
    if (S == 1) {
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t c = c0; c < c1; ++c) {
          const std::size_t k = i * C + c;
          const T gk = grad(at_value<T>{k});
          sum_dy[c] += gk;
          sum_dy_xhat[c] += gk * xh[k];
        }
      return;
    }
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t c = c0; c < c1; ++c) {
        const std::size_t o = (i * C + c) * S;
        sum_dy[c] += lane_sum<T>(o, S, grad);
        sum_dy_xhat[c] += lane_sum<T>(o, S, [&](auto at) RHONET_KERNEL { return grad(at) * at(xh); });
      }
  });
  // This process's share of gamma's and beta's gradients: a data-parallel run sums the
  // parameters' gradients across processes afterwards, like every other gradient's.
  if constexpr (has_scale)
    for (std::size_t c = 0; c < C; ++c) gamma_.grad(0, c) = sum_dy_xhat[c];
  if constexpr (has_shift)
    for (std::size_t c = 0; c < C; ++c) beta_.grad(0, c) = sum_dy[c];
  if (!dx) return;
  if (group_ && last_mode_ == mode::train) {
    // dx needs the sums over the global batch: both in one collective call.
    T* both = sync_.data();
    std::copy(sum_dy, sum_dy + C, both);
    std::copy(sum_dy_xhat, sum_dy_xhat + C, both + C);
    group_->sum(std::span<T>(both, 2 * C));
    std::copy(both, both + C, sum_dy);
    std::copy(both + C, both + 2 * C, sum_dy_xhat);
  }
  T* d = dx->data();
  const T M = group_ ? count_ : T(n * S);
  const bool train = last_mode_ == mode::train;
  const T* gamma = has_scale ? gamma_.value.data() : nullptr;
  const T* inv_std = inv_std_.data();
  auto scale_of = [&](std::size_t c) RHONET_KERNEL { return (has_scale ? gamma[c] : T(1)) * inv_std[c]; };
  // The mode and S are tested outside the loops, so that each loop nest holds one inner loop.
  for_channel_parts(n, [&](std::size_t c0, std::size_t c1) RHONET_KERNEL {
    if (train && S == 1) {
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t c = c0; c < c1; ++c) {
          const std::size_t k = i * C + c;
          const T scale = scale_of(c);
          d[k] = scale / M * (M * grad(at_value<T>{k}) - sum_dy[c] - xh[k] * sum_dy_xhat[c]);
        }
    } else if (train) {
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t c = c0; c < c1; ++c) {
          const std::size_t o = (i * C + c) * S;
          const T k = scale_of(c) / M, sd = sum_dy[c], sdx = sum_dy_xhat[c];
          for_lanes<T>(o, S, [&](auto at) RHONET_KERNEL { at.put(d, k * (M * grad(at) - sd - at(xh) * sdx)); });
        }
    } else if (S == 1) {
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t c = c0; c < c1; ++c) d[i * C + c] = scale_of(c) * grad(at_value<T>{i * C + c});
    } else {
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t c = c0; c < c1; ++c) {
          const std::size_t o = (i * C + c) * S;
          const T scale = scale_of(c);
          for_lanes<T>(o, S, [&](auto at) RHONET_KERNEL { at.put(d, scale * grad(at)); });
        }
    }
  });
}

// Runs body(c0, c1) on parts of the channels, one per thread of rhonet::threads() when the
// batch is large enough (core/parallel.hpp), each compiled for the baseline and AVX2
// (core/dispatch.hpp). A channel's sums stay within one part: the results do not depend on
// the thread count.
template <class T, affine Affine>
template <class Body>
void batch_norm_core<T, Affine>::for_channel_parts(std::size_t n, Body&& body) const {
  const std::size_t per_channel = std::max<std::size_t>(n * S_, 1);
  detail::parallel_for(C_, (detail::parallel_grain + per_channel - 1) / per_channel,
                       [&](std::size_t c0, std::size_t c1) {
                         detail::dispatch([&]() RHONET_KERNEL { body(c0, c1); });
                       });
}

// Mean and (biased) variance of each channel over the batch, in two passes; with a
// process group, over the global batch (the sums of each pass summed across processes).
// Returns the number of values per channel, M = n * S over all processes.
template <class T, affine Affine>
T batch_norm_core<T, Affine>::batch_moments(const T* in, std::size_t n) {
  const std::size_t C = C_, S = S_;
  T M = T(n * S);
  T* mean = mean_.data();
  T* var = var_.data();
  for_channel_parts(n, [&](std::size_t c0, std::size_t c1) RHONET_KERNEL {
    for (std::size_t c = c0; c < c1; ++c) mean[c] = var[c] = T(0);
    if (S == 1) {
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t c = c0; c < c1; ++c) mean[c] += in[i * C + c];
      return;
    }
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t c = c0; c < c1; ++c) {
        const std::size_t o = (i * C + c) * S;
        mean[c] += lane_sum<T>(o, S, [&](auto at) RHONET_KERNEL { return at(in); });
      }
  });
  if (group_) {
    T* sums = sync_.data();  // the C sums and the count, in one collective call
    std::copy(mean, mean + C, sums);
    sums[C] = M;
    group_->sum(std::span<T>(sums, C + 1));
    std::copy(sums, sums + C, mean);
    M = sums[C];
  }
  for (std::size_t c = 0; c < C; ++c) mean[c] /= M;
  for_channel_parts(n, [&](std::size_t c0, std::size_t c1) RHONET_KERNEL {
    if (S == 1) {
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t c = c0; c < c1; ++c) {
          const T dev = in[i * C + c] - mean[c];
          var[c] += dev * dev;
        }
      return;
    }
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t c = c0; c < c1; ++c) {
        const std::size_t o = (i * C + c) * S;
        const T mu = mean[c];
        var[c] += lane_sum<T>(o, S, [&](auto at) RHONET_KERNEL {
          const auto dev = at(in) - mu;
          return dev * dev;
        });
      }
  });
  if (group_) group_->sum(std::span<T>(var, C));
  for (std::size_t c = 0; c < C; ++c) var[c] /= M;
  count_ = M;
  return M;
}

template <class T, affine Affine>
std::invalid_argument batch_norm_core<T, Affine>::batch_of_one() const {
  return std::invalid_argument(
      "rhonet::batch_norm (layer " + std::to_string(position_) +
      "): train mode on a batch of one sample; batch statistics need at least 2 samples. "
      "For inference use forward(x, rhonet::mode::eval) or rhonet::predict(net, x)");
}

}  // namespace detail

// The layer: batch_norm_core on the static shape In (C = its first dimension).
template <class T, std::size_t Position, class In, affine Affine>
class batch_norm_layer : public detail::batch_norm_core<T, Affine> {
  using core = detail::batch_norm_core<T, Affine>;

 public:
  using value_type = T;
  using in_shape = In;
  using out_shape = In;
  static constexpr std::size_t position = Position;
  static constexpr std::size_t channels = In::dims[0];
  static constexpr int input_degree = 0;
  static constexpr bool has_weights = core::has_scale;
  static constexpr int weight_degree = core::has_shift ? not_homogeneous : 1;

  batch_norm_layer() : core(channels, In::size / channels, Position) {}
};

template <affine Affine = affine::none>
struct batch_norm {
  using spec_tag = layer_spec_tag;
  static constexpr int input_degree = 0;
  static constexpr bool has_weights = Affine != affine::none;
  static constexpr int weight_degree = Affine == affine::scale_shift ? not_homogeneous : 1;
  static std::string name() {
    return Affine == affine::none    ? "batch_norm<>"
           : Affine == affine::scale ? "batch_norm<scale>"
                                     : "batch_norm<scale_shift>";
  }
  template <class T, std::size_t Position, class In>
  using bind = batch_norm_layer<T, Position, In, Affine>;
};

}  // namespace rhonet

// With rhonet::compiled (compiled.hpp), compiled once in the library: the paper's batch norm
// (no affine parameters) and the affine ones, in two groups.
#define RHONET_BATCH_NORM_INSTANCES(KW, T) \
  KW class ::rhonet::detail::batch_norm_core<T, ::rhonet::affine::none>;
#define RHONET_AFFINE_BATCH_NORM_INSTANCES(KW, T)                         \
  KW class ::rhonet::detail::batch_norm_core<T, ::rhonet::affine::scale>; \
  KW class ::rhonet::detail::batch_norm_core<T, ::rhonet::affine::scale_shift>;
#if defined(RHONET_SEPARATE_COMPILATION)
RHONET_BATCH_NORM_INSTANCES(extern template, float)
RHONET_BATCH_NORM_INSTANCES(extern template, double)
RHONET_AFFINE_BATCH_NORM_INSTANCES(extern template, float)
RHONET_AFFINE_BATCH_NORM_INSTANCES(extern template, double)
#endif
