// global_avg_pool: (C, H, W) -> (C), the mean over each channel. Linear, so homogeneous of
// degree 1 in its input.
#pragma once

#include <cstddef>
#include <string>

#include <rhonet/core/checks.hpp>
#include <rhonet/layers/layer.hpp>
#include <rhonet/core/shape.hpp>
#include <rhonet/core/tensor.hpp>

namespace rhonet {

template <class T, std::size_t Position, class In>
class global_avg_pool_layer : public parameter_free_layer {
  static_assert(check::pool_needs_image_input<Position, In::rank>::value);
  static constexpr std::size_t channels = In::dims[0];
  static constexpr std::size_t spatial = In::size / channels;

 public:
  using value_type = T;
  using in_shape = In;
  using out_shape = shape<channels>;
  static constexpr std::size_t position = Position;

  void forward(const matrix<T>& x, matrix<T>& y, mode) {
    const std::size_t batch = x.shape()[0];
    const T* in = x.data();
    T* out = y.data();
    for (std::size_t i = 0; i < batch * channels; ++i) {
      T s = 0;
      for (std::size_t p = 0; p < spatial; ++p) s += in[i * spatial + p];
      out[i] = s / T(spatial);
    }
  }

  void backward(const matrix<T>&, const matrix<T>&, const matrix<T>& dy, matrix<T>* dx) {
    if (!dx) return;
    const std::size_t batch = dy.shape()[0];
    const T* g = dy.data();
    T* d = dx->data();
    for (std::size_t i = 0; i < batch * channels; ++i)
      for (std::size_t p = 0; p < spatial; ++p) d[i * spatial + p] = g[i] / T(spatial);
  }
};

struct global_avg_pool : parameter_free_layer {
  using spec_tag = layer_spec_tag;
  static std::string name() { return "global_avg_pool"; }
  template <class T, std::size_t Position, class In>
  using bind = global_avg_pool_layer<T, Position, In>;
};

}  // namespace rhonet
