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

template <class T, std::size_t Position, class In, affine Affine>
class batch_norm_layer {
  static constexpr std::size_t C = In::dims[0];
  static constexpr std::size_t S = In::size / C;  // pixels per channel; 1 for flat input
  static constexpr bool has_scale = Affine != affine::none;
  static constexpr bool has_shift = Affine == affine::scale_shift;

 public:
  using value_type = T;
  using in_shape = In;
  using out_shape = In;
  static constexpr std::size_t position = Position;
  static constexpr std::size_t channels = C;
  static constexpr int input_degree = 0;
  static constexpr bool has_weights = has_scale;
  static constexpr int weight_degree = has_shift ? not_homogeneous : 1;

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

  batch_norm_layer() {
    const std::string p = "layer" + std::to_string(Position);
    running_mean_ = {p + ".running_mean", {C}, vector<T>::from_shape({C})};
    running_var_ = {p + ".running_var", {C}, vector<T>::from_shape({C})};
    running_mean_.value.fill(T(0));
    running_var_.value.fill(T(1));
    if constexpr (has_scale) {
      gamma_ = parameter<T>(p + ".gamma", param_role::bn_scale, {C}, 1, C);
      gamma_.value.fill(T(1));
    }
    if constexpr (has_shift) beta_ = parameter<T>(p + ".beta", param_role::bn_shift, {C}, 1, C);
  }

  // xhat only grows: a smaller (last) batch reuses it without allocating.
  void resize(std::size_t batch) {
    if (has_scale && xhat_.shape()[0] < batch) xhat_ = matrix<T>::from_shape({batch, In::size});
  }

  void forward(const matrix<T>& x, matrix<T>& y, mode m) { forward_impl<false>(x, y, nullptr, m); }

  // BN followed by ReLU in one sweep: y is the BN output, r = max(y, 0). The network calls
  // this for every batch_norm directly followed by relu (docs/performance.md).
  void forward_relu(const matrix<T>& x, matrix<T>& y, matrix<T>& r, mode m) {
    forward_impl<true>(x, y, r.data(), m);
  }

  // Train mode: dx = gamma inv_std / M (M dy - sum(dy) - xhat sum(dy xhat)), M = n*S.
  // Eval mode: the statistics are constants, dx = gamma inv_std dy.
  void backward(const matrix<T>&, const matrix<T>& y, const matrix<T>& dy, matrix<T>* dx) {
    backward_impl<false>(y.data(), nullptr, dy, dx);
  }

  // The backward of BN followed by ReLU from the gradient dr at the ReLU's output: the
  // ReLU's mask (r > 0) is applied on the fly instead of in a sweep of its own.
  void backward_relu(const matrix<T>& y, const matrix<T>& r, const matrix<T>& dr, matrix<T>* dx) {
    backward_impl<true>(y.data(), r.data(), dr, dx);
  }

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
  void forward_impl(const matrix<T>& x, matrix<T>& y, T* r, mode m) {
    const std::size_t n = x.shape()[0];
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
    // the baseline and for AVX2); with flat input (S = 1) the vectors run along c.
    const T* mean = mean_.data();
    const T* inv_std = inv_std_.data();
    const T* gamma = has_scale ? gamma_.value.data() : nullptr;
    const T* beta = has_shift ? beta_.value.data() : nullptr;
    for_channel_parts(n, [&](std::size_t c0, std::size_t c1) RHONET_KERNEL {
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t c = c0; c < c1; ++c) {
          const std::size_t o = (i * C + c) * S;
          const T mu = mean[c], is = inv_std[c];
          const T g = has_scale ? gamma[c] : T(1);
          const T b = has_shift ? beta[c] : T(0);
          for (std::size_t s = 0; s < S; ++s) {
            const T v = (in[o + s] - mu) * is;
            xh[o + s] = v;
            T u = v;
            if constexpr (has_scale) out[o + s] = u = g * v + b;
            if constexpr (Relu) r[o + s] = u > T(0) ? u : T(0);
          }
        }
    });
    last_mode_ = m;
  }

  template <bool Relu>
  void backward_impl(const T* y, const T* r, const matrix<T>& dy, matrix<T>* dx) {
    const std::size_t n = dy.shape()[0];
    const T* xh = has_scale ? xhat_.data() : y;
    const T* g = dy.data();
    // The gradient at the BN output: dy, or dy masked by the following ReLU (the load
    // unconditional, so that the loop vectorises without masked loads; layers/relu.hpp).
    auto grad = [&](std::size_t k) RHONET_KERNEL {
      const T gk = g[k];
      if constexpr (Relu) return r[k] > T(0) ? gk : T(0);
      else return gk;
    };
    // Raw pointers in the loops, which are compiled for the baseline and for AVX2
    // (core/dispatch.hpp); the sums' order is lane_sum's on both.
    T* sum_dy = sum_dy_.data();
    T* sum_dy_xhat = sum_dy_xhat_.data();
    for_channel_parts(n, [&](std::size_t c0, std::size_t c1) RHONET_KERNEL {
      for (std::size_t c = c0; c < c1; ++c) sum_dy[c] = sum_dy_xhat[c] = T(0);
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t c = c0; c < c1; ++c) {
          const std::size_t o = (i * C + c) * S;
          sum_dy[c] += lane_sum([&](std::size_t s) RHONET_KERNEL { return grad(o + s); });
          sum_dy_xhat[c] += lane_sum([&](std::size_t s) RHONET_KERNEL { return grad(o + s) * xh[o + s]; });
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
    // The mode is tested outside the loops: a channel loop holding one inner loop is
    // vectorised along c when the pixel loop vanishes (flat input, S = 1).
    for_channel_parts(n, [&](std::size_t c0, std::size_t c1) RHONET_KERNEL {
      if (train) {
        for (std::size_t i = 0; i < n; ++i)
          for (std::size_t c = c0; c < c1; ++c) {
            const std::size_t o = (i * C + c) * S;
            const T scale = (has_scale ? gamma[c] : T(1)) * inv_std[c];
            const T k = scale / M, sd = sum_dy[c], sdx = sum_dy_xhat[c];
            for (std::size_t s = 0; s < S; ++s) d[o + s] = k * (M * grad(o + s) - sd - xh[o + s] * sdx);
          }
      } else {
        for (std::size_t i = 0; i < n; ++i)
          for (std::size_t c = c0; c < c1; ++c) {
            const std::size_t o = (i * C + c) * S;
            const T scale = (has_scale ? gamma[c] : T(1)) * inv_std[c];
            for (std::size_t s = 0; s < S; ++s) d[o + s] = scale * grad(o + s);
          }
      }
    });
  }

  // Sum of f(s) over the S pixels of one channel, in independent lanes: one running sum is
  // bound by the latency of an add (strict IEEE order keeps the compiler from vectorising
  // it), lanes let it use SIMD. The order is fixed in the source, the same for the baseline
  // and the AVX2 copy (core/dispatch.hpp), so results stay deterministic and equal on both.
  template <class F>
  RHONET_KERNEL static T lane_sum(F&& f) {
    constexpr std::size_t lanes = 8;
    if constexpr (S < 2 * lanes) {
      T a = 0;
      for (std::size_t s = 0; s < S; ++s) a += f(s);
      return a;
    } else {
      constexpr std::size_t full = S / lanes * lanes;  // compile-time bounds: no tail loop when
      T acc[lanes] = {};                                // S is a multiple of the lane count
      for (std::size_t s = 0; s < full; s += lanes)
        for (std::size_t l = 0; l < lanes; ++l) acc[l] += f(s + l);
      T a = 0;
      if constexpr (full < S)
        for (std::size_t s = full; s < S; ++s) a += f(s);
      for (std::size_t l = 0; l < lanes; ++l) a += acc[l];
      return a;
    }
  }

  // Runs body(c0, c1) on parts of the channels, one per thread of rhonet::threads() when the
  // batch is large enough (core/parallel.hpp), each compiled for the baseline and AVX2
  // (core/dispatch.hpp). A channel's sums stay within one part: the results do not depend on
  // the thread count.
  template <class Body>
  static void for_channel_parts(std::size_t n, Body&& body) {
    const std::size_t per_channel = std::max<std::size_t>(n * S, 1);
    detail::parallel_for(C, (detail::parallel_grain + per_channel - 1) / per_channel,
                         [&](std::size_t c0, std::size_t c1) {
                           detail::dispatch([&]() RHONET_KERNEL { body(c0, c1); });
                         });
  }

  // Mean and (biased) variance of each channel over the batch, in two passes; with a
  // process group, over the global batch (the sums of each pass summed across processes).
  // Returns the number of values per channel, M = n * S over all processes.
  T batch_moments(const T* in, std::size_t n) {
    T M = T(n * S);
    T* mean = mean_.data();
    T* var = var_.data();
    for_channel_parts(n, [&](std::size_t c0, std::size_t c1) RHONET_KERNEL {
      for (std::size_t c = c0; c < c1; ++c) mean[c] = var[c] = T(0);
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t c = c0; c < c1; ++c) {
          const std::size_t o = (i * C + c) * S;
          mean[c] += lane_sum([&](std::size_t s) RHONET_KERNEL { return in[o + s]; });
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
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t c = c0; c < c1; ++c) {
          const std::size_t o = (i * C + c) * S;
          const T mu = mean[c];
          var[c] += lane_sum([&](std::size_t s) RHONET_KERNEL { return (in[o + s] - mu) * (in[o + s] - mu); });
        }
    });
    if (group_) group_->sum(std::span<T>(var, C));
    for (std::size_t c = 0; c < C; ++c) var[c] /= M;
    count_ = M;
    return M;
  }

  static std::invalid_argument batch_of_one() {
    return std::invalid_argument(
        "rhonet::batch_norm (layer " + std::to_string(Position) +
        "): train mode on a batch of one sample; batch statistics need at least 2 samples. "
        "For inference use forward(x, rhonet::mode::eval) or rhonet::predict(net, x)");
  }

  parameter<T> gamma_, beta_;
  state_buffer<T> running_mean_, running_var_;
  matrix<T> xhat_ = matrix<T>::from_shape({0, In::size});
  vector<T> mean_ = vector<T>::from_shape({C}), var_ = vector<T>::from_shape({C}),
            inv_std_ = vector<T>::from_shape({C}), sum_dy_ = vector<T>::from_shape({C}),
            sum_dy_xhat_ = vector<T>::from_shape({C}), sync_ = vector<T>::from_shape({2 * C + 1});
  const process_group* group_ = nullptr;
  T count_ = 0;  // M of the last train-mode forward (global with a group)
  mode last_mode_ = mode::train;
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
