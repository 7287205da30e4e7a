// Conv4 nets on 3 x 32 x 32 images (CIFAR-10).
#include "conv.hpp"

namespace paper {

bool run_conv_cifar(const setting& s, std::size_t i, const data& d, const run_options& ro) {
  return d.outputs == 1 ? run_conv_net<3, 32, 1>(s, i, d, ro) : run_conv_net<3, 32, 2>(s, i, d, ro);
}

}  // namespace paper
