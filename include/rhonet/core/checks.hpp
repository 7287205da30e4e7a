// Compile-time shape rules. Each rule is a class template whose arguments are the layer's
// position (1 = the first layer after the input) and the sizes involved, so that the
// compiler prints them next to the message ("In instantiation of
// rhonet::check::conv2d_kernel_fits_padded_input<2, 5, 4, 4, false>").
//
// A rule reports its failure itself, once. Its `value` is always true: the use site's
// static_assert(check::rule<...>::value) only instantiates the rule, and does not repeat
// the failure as a second, message-less error.
#pragma once

#include <cstddef>

namespace rhonet::check {

template <std::size_t Position, std::size_t InputRank, bool Ok = (InputRank == 3)>
struct conv2d_needs_image_input {
  static_assert(Ok,
                "rhonet: conv2d needs an image input (C, H, W); arguments: <layer position, "
                "input rank>. Give the network rhonet::input<C, H, W>.");
  static constexpr bool value = true;
};

template <std::size_t Position, std::size_t Kernel, std::size_t PaddedHeight,
          std::size_t PaddedWidth, bool Ok = (Kernel <= PaddedHeight && Kernel <= PaddedWidth)>
struct conv2d_kernel_fits_padded_input {
  static_assert(Ok,
                "rhonet: conv2d kernel is larger than its padded input; arguments: <layer "
                "position, kernel, padded height, padded width>");
  static constexpr bool value = true;
};

template <std::size_t Position, std::size_t Kernel, std::size_t Stride,
          bool Ok = (Kernel > 0 && Stride > 0)>
struct conv2d_kernel_and_stride_positive {
  static_assert(Ok, "rhonet: conv2d kernel and stride must be positive; arguments: <layer "
                    "position, kernel, stride>");
  static constexpr bool value = true;
};

template <std::size_t Position, std::size_t Width, bool Ok = (Width > 0)>
struct dense_width_positive {
  static_assert(Ok, "rhonet: dense<N> needs N > 0; arguments: <layer position, N>");
  static constexpr bool value = true;
};

template <std::size_t Position, std::size_t InputRank, bool Ok = (InputRank == 1)>
struct dense_needs_flat_input {
  static_assert(Ok,
                "rhonet: dense after an image input; insert rhonet::flatten (or "
                "rhonet::global_avg_pool) before it; arguments: <layer position, input rank>");
  static constexpr bool value = true;
};

template <std::size_t Position, std::size_t InputRank, bool Ok = (InputRank == 3)>
struct pool_needs_image_input {
  static_assert(Ok, "rhonet: pooling (global_avg_pool, max_pool2d, avg_pool2d) needs an image "
                    "input (C, H, W); arguments: <layer position, input rank>");
  static constexpr bool value = true;
};

template <std::size_t Position, std::size_t Kernel, std::size_t Stride,
          bool Ok = (Kernel > 0 && Stride > 0)>
struct pool2d_kernel_and_stride_positive {
  static_assert(Ok, "rhonet: max_pool2d / avg_pool2d kernel and stride must be positive; "
                    "arguments: <layer position, kernel, stride>");
  static constexpr bool value = true;
};

template <std::size_t Position, std::size_t Kernel, std::size_t Height, std::size_t Width,
          bool Ok = (Kernel <= Height && Kernel <= Width)>
struct pool2d_window_fits_input {
  static_assert(Ok, "rhonet: max_pool2d / avg_pool2d window is larger than its input (pooling "
                    "has no padding); arguments: <layer position, kernel, height, width>");
  static constexpr bool value = true;
};

template <std::size_t Position, double P, bool Ok = (P >= 0.0 && P < 1.0)>
struct dropout_probability_in_range {
  static_assert(Ok, "rhonet: dropout<P> needs 0 <= P < 1 (the probability of zeroing an "
                    "element); arguments: <layer position, P>");
  static constexpr bool value = true;
};

template <std::size_t Rank, bool Ok = (Rank == 1 || Rank == 3)>
struct input_rank_is_1_or_3 {
  static_assert(Ok, "rhonet: input<D> (flat) or input<C, H, W> (image); arguments: <rank>");
  static constexpr bool value = true;
};

template <std::size_t LayerCount, bool Ok = (LayerCount > 0)>
struct network_has_layers {
  static_assert(Ok, "rhonet: a network needs at least one layer after its input");
  static constexpr bool value = true;
};

}  // namespace rhonet::check
