// FC4 nets on 785 inputs (Fashion-MNIST: pixels + the bias component).
#include "fc.hpp"

namespace paper {

bool run_fc_fashion(const setting& s, std::size_t i, const data& d, const run_options& ro) {
  return d.outputs == 1 ? run_fc_net<785, 1>(s, i, d, ro) : run_fc_net<785, 2>(s, i, d, ro);
}

}  // namespace paper
