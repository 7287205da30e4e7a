// The window geometry shared by max_pool2d and avg_pool2d: K x K windows at stride S over
// each channel of a (C, H, W) input, no padding, floor rounding (PyTorch's defaults
// padding=0, ceil_mode=False): out = (H - K) / S + 1. The checks name the layer position.
#pragma once

#include <cstddef>

#include <rhonet/core/checks.hpp>
#include <rhonet/core/shape.hpp>

namespace rhonet::detail {

template <std::size_t Position, class In, std::size_t K, std::size_t S>
struct pool2d_geometry {
  static_assert(check::pool_needs_image_input<Position, In::rank>::value);
  static_assert(check::pool2d_kernel_and_stride_positive<Position, K, S>::value);
  // Dimensions of a rank-3 input; 1 otherwise, so a failed check does not cascade.
  static constexpr std::size_t C = In::rank == 3 ? In::dims[0] : 1;
  static constexpr std::size_t H = In::rank == 3 ? In::dims[In::rank == 3 ? 1 : 0] : 1;
  static constexpr std::size_t W = In::rank == 3 ? In::dims[In::rank == 3 ? 2 : 0] : 1;
  static_assert(check::pool2d_window_fits_input<Position, K, H, W,
                                                In::rank != 3 || (K <= H && K <= W)>::value);
  static constexpr bool valid = In::rank == 3 && K > 0 && S > 0 && K <= H && K <= W;
  static constexpr std::size_t k = valid ? K : 1, s = valid ? S : 1;
  static constexpr std::size_t out_height = valid ? (H - k) / s + 1 : 1;
  static constexpr std::size_t out_width = valid ? (W - k) / s + 1 : 1;
  using out_shape = shape<C, out_height, out_width>;
};

}  // namespace rhonet::detail
