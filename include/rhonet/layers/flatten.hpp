// flatten: (C, H, W) -> (C*H*W). The memory layout is unchanged (NCHW rows), so this only
// restates the shape; dense layers after an image require it (an explicit shape statement).
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>

#include <rhonet/layers/layer.hpp>
#include <rhonet/core/shape.hpp>
#include <rhonet/core/tensor.hpp>

namespace rhonet {

template <class T, std::size_t Position, class In>
class flatten_layer : public parameter_free_layer {
 public:
  using value_type = T;
  using in_shape = In;
  using out_shape = shape<In::size>;
  static constexpr std::size_t position = Position;

  void forward(const matrix<T>& x, matrix<T>& y, mode) {
    std::copy(x.data(), x.data() + x.size(), y.data());
  }
  void backward(const matrix<T>&, const matrix<T>&, const matrix<T>& dy, matrix<T>* dx) {
    if (dx) std::copy(dy.data(), dy.data() + dy.size(), dx->data());
  }
};

struct flatten : parameter_free_layer {
  using spec_tag = layer_spec_tag;
  static std::string name() { return "flatten"; }
  template <class T, std::size_t Position, class In>
  using bind = flatten_layer<T, Position, In>;
};

}  // namespace rhonet
