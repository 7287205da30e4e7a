// The fully connected nets of the paper: FC4 (D -> 512 -> 512 -> 512 -> outputs), with BN,
// without, or weight-normalised; D = 785 (Fashion-MNIST) or 3073 (CIFAR-10).
#include <stdexcept>

#include "experiment.hpp"

namespace paper {

namespace {
template <std::size_t D, std::size_t Out>
bool dispatch(const setting& s, std::size_t i, const data& d, const run_options& ro) {
  using namespace rhonet::arch;
  if (s.bn) return run_one<fc4_bn<D, 512, Out>>(s, i, d.flat_train, d.flat_test, ro);
  if (s.wn) return run_one<fc4_wn<D, 512, Out>>(s, i, d.flat_train, d.flat_test, ro);
  return run_one<fc4<D, 512, Out>>(s, i, d.flat_train, d.flat_test, ro);
}
}  // namespace

bool run_fc(const setting& s, std::size_t i, const data& d, const run_options& ro) {
  const std::size_t D = d.flat_train.features();
  if (D == 785) return d.outputs == 1 ? dispatch<785, 1>(s, i, d, ro) : dispatch<785, 2>(s, i, d, ro);
  if (D == 3073) return d.outputs == 1 ? dispatch<3073, 1>(s, i, d, ro) : dispatch<3073, 2>(s, i, d, ro);
  throw std::invalid_argument("fc4: no network instantiated for " + std::to_string(D) + " inputs");
}

}  // namespace paper
