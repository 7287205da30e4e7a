// Static shapes: every layer's input and output shape is a type. The batch dimension is
// the only run-time one and never appears here.
#pragma once

#include <array>
#include <cstddef>
#include <string>

namespace rhonet {

template <std::size_t... Dims>
struct shape {
  static constexpr std::size_t rank = sizeof...(Dims);
  static constexpr std::size_t size = (Dims * ... * std::size_t{1});
  static constexpr std::array<std::size_t, rank> dims{Dims...};

  static std::string str() {
    std::string s = "(";
    std::size_t i = 0;
    ((s += (i++ ? "x" : "") + std::to_string(Dims)), ...);
    return s + ")";
  }
};

template <class S>
concept flat_shape = S::rank == 1;

// Images are (channels, height, width): NCHW with the batch in front.
template <class S>
concept image_shape = S::rank == 3;

template <class S>
  requires image_shape<S>
struct image_dims {
  static constexpr std::size_t channels = S::dims[0];
  static constexpr std::size_t height = S::dims[1];
  static constexpr std::size_t width = S::dims[2];
};

}  // namespace rhonet
