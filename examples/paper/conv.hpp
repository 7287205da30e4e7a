// The group's 4-conv nets: conv 32 k3 s2 p1, [BN -> ReLU -> conv] 64 and 128 k3 s2 p1, then a
// k4 conv to the outputs; on 1x28x28 (Fashion-MNIST) or 3x32x32 (CIFAR-10). Each geometry is
// instantiated in its own translation unit (conv_fashion.cpp, conv_cifar.cpp).
#pragma once

#include "experiment.hpp"

namespace paper {

template <std::size_t C, std::size_t HW, std::size_t Out>
bool run_conv_net(const setting& s, std::size_t i, const data& d, const run_options& ro) {
  using namespace rhonet::arch;
  if (s.bn) return run_one<conv4_bn<C, HW, Out>>(s, i, d.image_train, d.image_test, ro);
  if (s.wn) return run_one<conv4_wn<C, HW, Out>>(s, i, d.image_train, d.image_test, ro);
  return run_one<conv4<C, HW, Out>>(s, i, d.image_train, d.image_test, ro);
}

bool run_conv_fashion(const setting& s, std::size_t i, const data& d, const run_options& ro);
bool run_conv_cifar(const setting& s, std::size_t i, const data& d, const run_options& ro);

}  // namespace paper
