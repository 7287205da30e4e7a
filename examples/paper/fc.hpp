// The fully connected nets of the paper: FC4 (D -> 512 -> 512 -> 512 -> outputs), with BN,
// without, or weight-normalised; D = 785 (Fashion-MNIST) or 3073 (CIFAR-10). Each input size
// is instantiated in its own translation unit (fc_fashion.cpp, fc_cifar.cpp) to keep each
// one's compile time and memory within budget (docs/performance.md).
#pragma once

#include "experiment.hpp"

namespace paper {

template <std::size_t D, std::size_t Out>
bool run_fc_net(const setting& s, std::size_t i, const data& d, const run_options& ro) {
  using namespace rhonet::arch;
  if (s.bn) return run_one<fc4_bn<D, 512, Out>>(s, i, d.flat_train, d.flat_test, ro);
  if (s.wn) return run_one<fc4_wn<D, 512, Out>>(s, i, d.flat_train, d.flat_test, ro);
  return run_one<fc4<D, 512, Out>>(s, i, d.flat_train, d.flat_test, ro);
}

bool run_fc_fashion(const setting& s, std::size_t i, const data& d, const run_options& ro);
bool run_fc_cifar(const setting& s, std::size_t i, const data& d, const run_options& ro);

}  // namespace paper
