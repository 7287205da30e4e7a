// Dispatch of the FC4 settings to the translation unit of the data set's input size.
#include <stdexcept>
#include <string>

#include "fc.hpp"

namespace paper {

bool run_fc(const setting& s, std::size_t i, const data& d, const run_options& ro) {
  const std::size_t D = d.flat_train.features();
  if (D == 785) return run_fc_fashion(s, i, d, ro);
  if (D == 3073) return run_fc_cifar(s, i, d, ro);
  throw std::invalid_argument("fc4: no network instantiated for " + std::to_string(D) + " inputs");
}

}  // namespace paper
