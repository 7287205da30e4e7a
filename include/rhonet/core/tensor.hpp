// Tensor aliases. Activations are row-major (batch x features); images are NCHW with
// C*H*W flattened into the feature dimension, so every activation is a 2-D tensor.
#pragma once

#include <cstddef>
#include <xtensor/xtensor.hpp>

namespace rhonet {

template <class T>
using matrix = xt::xtensor<T, 2, xt::layout_type::row_major>;

template <class T>
using vector = xt::xtensor<T, 1, xt::layout_type::row_major>;

// Training uses batch statistics in batch normalisation; evaluation uses running ones.
enum class mode { train, eval };

}  // namespace rhonet
