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

namespace detail {

// The loops of relu, compiled once per element type (not per layer), for the baseline and for
// AVX2 (core/dispatch.hpp), on the threads of rhonet::threads() (core/parallel.hpp).

// out = max(in, 0). Unrolled: the one-vector loop is bound by the front end, and where its
// 26 bytes land decided the speed (1.3x between two builds of the same loop, on AMD Zen).
template <class T>
void relu_forward(const T* in, T* out, std::size_t n) {
  parallel_for(n, parallel_grain, [&](std::size_t from, std::size_t to) {
    dispatch([&]() RHONET_KERNEL {
#pragma GCC unroll 4
      for (std::size_t i = from; i < to; ++i) out[i] = in[i] > T(0) ? in[i] : T(0);
    });
  });
}

// dx = dy where out > 0, else 0. Both loads unconditional: a load under the condition cannot
// be if-converted without masked loads (AVX2 and later), so at the baseline ISA the loop
// stayed scalar and branchy, 22-25x slower than with -march=native.
template <class T>
void relu_backward(const T* out, const T* dy, T* dx, std::size_t n) {
  parallel_for(n, parallel_grain, [&](std::size_t from, std::size_t to) {
    dispatch([&]() RHONET_KERNEL {
      for (std::size_t i = from; i < to; ++i) {
        const T gi = dy[i];
        dx[i] = out[i] > T(0) ? gi : T(0);
      }
    });
  });
}

}  // namespace detail

template <class T, std::size_t Position, class In>
class relu_layer : public parameter_free_layer {
 public:
  using value_type = T;
  using in_shape = In;
  using out_shape = In;
  static constexpr std::size_t position = Position;
  // Lets the network fuse a preceding batch_norm with this layer (network.hpp).
  static constexpr bool is_relu = true;

  void forward(const matrix<T>& x, matrix<T>& y, mode) { detail::relu_forward(x.data(), y.data(), x.size()); }

  void backward(const matrix<T>&, const matrix<T>& y, const matrix<T>& dy, matrix<T>* dx) {
    if (dx) detail::relu_backward(y.data(), dy.data(), dx->data(), y.size());
  }
};

struct relu : parameter_free_layer {
  using spec_tag = layer_spec_tag;
  static std::string name() { return "relu"; }
  template <class T, std::size_t Position, class In>
  using bind = relu_layer<T, Position, In>;
};

}  // namespace rhonet

// With rhonet::compiled (compiled.hpp), compiled once in the library.
#define RHONET_RELU_INSTANCES(KW, T)                                                    \
  KW void ::rhonet::detail::relu_forward<T>(const T*, T*, std::size_t);                 \
  KW void ::rhonet::detail::relu_backward<T>(const T*, const T*, T*, std::size_t);
#if defined(RHONET_SEPARATE_COMPILATION)
RHONET_RELU_INSTANCES(extern template, float)
RHONET_RELU_INSTANCES(extern template, double)
#endif
