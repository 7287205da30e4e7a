// relu: y = max(x, 0). Positively homogeneous of degree 1, which is what lets the network
// factor as g = rho * f.
#pragma once

#include <cstddef>
#include <string>

#include <rhonet/core/dispatch.hpp>
#include <rhonet/core/parallel.hpp>
#include <rhonet/layers/layer.hpp>
#include <rhonet/core/shape.hpp>
#include <rhonet/core/tensor.hpp>

namespace rhonet {

template <class T, std::size_t Position, class In>
class relu_layer : public parameter_free_layer {
 public:
  using value_type = T;
  using in_shape = In;
  using out_shape = In;
  static constexpr std::size_t position = Position;
  // Lets the network fuse a preceding batch_norm with this layer (network.hpp).
  static constexpr bool is_relu = true;

  void forward(const matrix<T>& x, matrix<T>& y, mode) {
    const T* in = x.data();
    T* out = y.data();
    const std::size_t n = x.size();
    // Both loops run on the CPU's widest vectors in a portable build (core/dispatch.hpp), on
    // the threads of rhonet::threads() (core/parallel.hpp).
    // Unrolled: the one-vector loop is bound by the front end, and where its 26 bytes land
    // decided the speed (1.3x between two builds of the same loop, on AMD Zen).
    detail::parallel_for(n, detail::parallel_grain, [&](std::size_t from, std::size_t to) {
      detail::dispatch([&]() RHONET_KERNEL {
#pragma GCC unroll 4
        for (std::size_t i = from; i < to; ++i) out[i] = in[i] > T(0) ? in[i] : T(0);
      });
    });
  }

  void backward(const matrix<T>&, const matrix<T>& y, const matrix<T>& dy, matrix<T>* dx) {
    if (!dx) return;
    const T* out = y.data();
    const T* g = dy.data();
    T* d = dx->data();
    const std::size_t n = y.size();
    // Both loads unconditional: a load under the condition cannot be if-converted without
    // masked loads (AVX2 and later), so at the baseline ISA the loop stayed scalar and
    // branchy, 22-25x slower than with -march=native.
    detail::parallel_for(n, detail::parallel_grain, [&](std::size_t from, std::size_t to) {
      detail::dispatch([&]() RHONET_KERNEL {
        for (std::size_t i = from; i < to; ++i) {
          const T gi = g[i];
          d[i] = out[i] > T(0) ? gi : T(0);
        }
      });
    });
  }
};

struct relu : parameter_free_layer {
  using spec_tag = layer_spec_tag;
  static std::string name() { return "relu"; }
  template <class T, std::size_t Position, class In>
  using bind = relu_layer<T, Position, In>;
};

}  // namespace rhonet
