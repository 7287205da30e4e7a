// The paper's networks as run_net<Arch, Geometry..., Outputs, Variant>: declared here for the
// dispatch in fc.cpp and conv.cpp, defined in nets_impl.hpp and instantiated by the generated
// translation units (unit.cpp.in), one network family and data set each, so that every
// translation unit stays within the compile budget (docs/performance.md).
#pragma once

#include <cstddef>

#include "experiment.hpp"

namespace paper {

enum class variant { bn, wn, plain };  // with BN, weight-normalised, or neither

inline variant variant_of(const setting& s) { return s.bn ? variant::bn : s.wn ? variant::wn : variant::plain; }

// FC4: D -> 512 -> 512 -> 512 -> Out, D = 785 (Fashion-MNIST) or 3073 (CIFAR-10).
template <std::size_t D, std::size_t Out, variant V>
bool run_fc_net(const setting& s, std::size_t i, const data& d, const run_options& ro);

// Conv4 on C x HW x HW images: 1 x 28 x 28 (Fashion-MNIST) or 3 x 32 x 32 (CIFAR-10).
template <std::size_t C, std::size_t HW, std::size_t Out, variant V>
bool run_conv_net(const setting& s, std::size_t i, const data& d, const run_options& ro);

}  // namespace paper
