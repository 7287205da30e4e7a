// FC4 nets on 3073 inputs (CIFAR-10: pixels + the bias component).
#include "fc.hpp"

namespace paper {

bool run_fc_cifar(const setting& s, std::size_t i, const data& d, const run_options& ro) {
  return d.outputs == 1 ? run_fc_net<3073, 1>(s, i, d, ro) : run_fc_net<3073, 2>(s, i, d, ro);
}

}  // namespace paper
