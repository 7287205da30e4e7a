// avg_pool2d<K, S = K>: the mean of each K x K window at stride S, per channel, no padding.
// Linear, so homogeneous of degree 1 in its input. Overlapping windows (S < K) add their
// gradients.
// PyTorch: torch.nn.AvgPool2d(K, stride=S) (padding 0, ceil_mode False; without padding
// count_include_pad makes no difference).
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>

#include <rhonet/layers/layer.hpp>
#include <rhonet/core/shape.hpp>
#include <rhonet/core/tensor.hpp>
#include <rhonet/layers/pool2d.hpp>

namespace rhonet {

template <class T, std::size_t Position, class In, std::size_t K, std::size_t S>
class avg_pool2d_layer : public parameter_free_layer {
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

  void forward(const matrix<T>& x, matrix<T>& y, mode) {
    const std::size_t planes = x.shape()[0] * C;
    const T inv = T(1) / T(k * k);
    for (std::size_t p = 0; p < planes; ++p) {
      const T* in = x.data() + p * H * W;
      T* out = y.data() + p * OH * OW;
      for (std::size_t oh = 0; oh < OH; ++oh)
        for (std::size_t ow = 0; ow < OW; ++ow) {
          T sum = 0;
          for (std::size_t i = 0; i < k; ++i)
            for (std::size_t j = 0; j < k; ++j) sum += in[(oh * s + i) * W + ow * s + j];
          out[oh * OW + ow] = sum * inv;
        }
    }
  }

  void backward(const matrix<T>&, const matrix<T>&, const matrix<T>& dy, matrix<T>* dx) {
    if (!dx) return;
    const std::size_t planes = dy.shape()[0] * C;
    const T inv = T(1) / T(k * k);
    std::fill_n(dx->data(), planes * H * W, T(0));
    for (std::size_t p = 0; p < planes; ++p) {
      const T* g = dy.data() + p * OH * OW;
      T* d = dx->data() + p * H * W;
      for (std::size_t oh = 0; oh < OH; ++oh)
        for (std::size_t ow = 0; ow < OW; ++ow) {
          const T v = g[oh * OW + ow] * inv;
          for (std::size_t i = 0; i < k; ++i)
            for (std::size_t j = 0; j < k; ++j) d[(oh * s + i) * W + ow * s + j] += v;
        }
    }
  }
};

template <std::size_t K, std::size_t S = K>
struct avg_pool2d : parameter_free_layer {
  using spec_tag = layer_spec_tag;
  static std::string name() { return "avg_pool2d<" + std::to_string(K) + "," + std::to_string(S) + ">"; }
  template <class T, std::size_t Position, class In>
  using bind = avg_pool2d_layer<T, Position, In, K, S>;
};

}  // namespace rhonet
