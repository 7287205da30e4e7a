// The network's input: input<D> for flat vectors, input<C, H, W> for NCHW images.
#pragma once

#include <cstddef>

#include <rhonet/core/checks.hpp>
#include <rhonet/layers/layer.hpp>
#include <rhonet/core/shape.hpp>

namespace rhonet {

template <std::size_t... Dims>
struct input {
  static_assert(check::input_rank_is_1_or_3<sizeof...(Dims)>::value);
  using spec_tag = input_spec_tag;
  using shape_type = shape<Dims...>;
  static std::string name() { return "input<" + join() + ">"; }

 private:
  static std::string join() {
    std::string s;
    std::size_t i = 0;
    ((s += (i++ ? "," : "") + std::to_string(Dims)), ...);
    return s;
  }
};

}  // namespace rhonet
