// Conv4 nets on 1 x 28 x 28 images (Fashion-MNIST).
#include "conv.hpp"

namespace paper {

bool run_conv_fashion(const setting& s, std::size_t i, const data& d, const run_options& ro) {
  return d.outputs == 1 ? run_conv_net<1, 28, 1>(s, i, d, ro) : run_conv_net<1, 28, 2>(s, i, d, ro);
}

}  // namespace paper
