// Dispatch of the Conv4 settings to the translation unit of the data set's image geometry.
#include <stdexcept>

#include "conv.hpp"

namespace paper {

bool run_conv(const setting& s, std::size_t i, const data& d, const run_options& ro) {
  if (d.channels == 1 && d.side == 28) return run_conv_fashion(s, i, d, ro);
  if (d.channels == 3 && d.side == 32) return run_conv_cifar(s, i, d, ro);
  throw std::invalid_argument("conv4: no network instantiated for this image geometry");
}

}  // namespace paper
