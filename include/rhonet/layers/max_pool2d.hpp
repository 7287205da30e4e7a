// max_pool2d<K, S = K>: the maximum of each K x K window at stride S, per channel, no
// padding. Positively homogeneous of degree 1 in its input (max(c x) = c max(x), c > 0).
// The gradient goes to the window's maximum; on ties, to its first element in row-major
// order; a NaN in a window is its maximum. Overlapping windows (S < K) add up.
// PyTorch: torch.nn.MaxPool2d(K, stride=S) (padding 0, dilation 1, ceil_mode False).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <rhonet/layers/layer.hpp>
#include <rhonet/core/shape.hpp>
#include <rhonet/core/tensor.hpp>
#include <rhonet/layers/pool2d.hpp>

namespace rhonet {

template <class T, std::size_t Position, class In, std::size_t K, std::size_t S>
class max_pool2d_layer : public parameter_free_layer {
  using geo = detail::pool2d_geometry<Position, In, K, S>;
  static constexpr std::size_t C = geo::C, H = geo::H, W = geo::W, OH = geo::out_height,
                               OW = geo::out_width, k = geo::k, s = geo::s;

 public:
  using value_type = T;
  using in_shape = In;
  using out_shape = typename geo::out_shape;
  static constexpr std::size_t position = Position;
  template <class F> void for_each_setting(F&& f) const {
    f("kernel", K);
    f("stride", S);
  }

  // The argmax buffer only grows: a smaller (last) batch reuses it.
  void resize(std::size_t batch) {
    if (argmax_.size() < batch * out_shape::size) argmax_.resize(batch * out_shape::size);
  }

  void forward(const matrix<T>& x, matrix<T>& y, mode) {
    const std::size_t batch = x.shape()[0];
    resize(batch);
    for (std::size_t b = 0; b < batch; ++b)
      for (std::size_t c = 0; c < C; ++c) {
        const T* in = x.data() + b * In::size + c * H * W;
        T* out = y.data() + b * out_shape::size + c * OH * OW;
        std::uint32_t* arg = argmax_.data() + b * out_shape::size + c * OH * OW;
        for (std::size_t oh = 0; oh < OH; ++oh)
          for (std::size_t ow = 0; ow < OW; ++ow) {
            std::size_t best = oh * s * W + ow * s;
            T m = in[best];
            for (std::size_t i = 0; i < k; ++i)
              for (std::size_t j = 0; j < k; ++j) {
                const std::size_t at = (oh * s + i) * W + ow * s + j;
                if (in[at] > m || (in[at] != in[at] && m == m)) {  // a NaN wins and stays
                  m = in[at];
                  best = at;
                }
              }
            out[oh * OW + ow] = m;
            arg[oh * OW + ow] = static_cast<std::uint32_t>(c * H * W + best);
          }
      }
  }

  void backward(const matrix<T>&, const matrix<T>&, const matrix<T>& dy, matrix<T>* dx) {
    if (!dx) return;
    const std::size_t batch = dy.shape()[0];
    std::fill_n(dx->data(), batch * In::size, T(0));
    for (std::size_t b = 0; b < batch; ++b) {
      const T* g = dy.data() + b * out_shape::size;
      const std::uint32_t* arg = argmax_.data() + b * out_shape::size;
      T* d = dx->data() + b * In::size;
      for (std::size_t o = 0; o < out_shape::size; ++o) d[arg[o]] += g[o];
    }
  }

 private:
  std::vector<std::uint32_t> argmax_;  // per output: the input offset within its sample
};

template <std::size_t K, std::size_t S = K>
struct max_pool2d : parameter_free_layer {
  using spec_tag = layer_spec_tag;
  static std::string name() { return "max_pool2d<" + std::to_string(K) + "," + std::to_string(S) + ">"; }
  template <class T, std::size_t Position, class In>
  using bind = max_pool2d_layer<T, Position, In, K, S>;
};

}  // namespace rhonet
