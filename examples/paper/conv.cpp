// The group's 4-conv nets: conv 32 k3 s2 p1, [BN -> ReLU -> conv] 64 and 128 k3 s2 p1, then a
// k4 conv to the outputs; on 1x28x28 (Fashion-MNIST) or 3x32x32 (CIFAR-10).
#include <stdexcept>

#include "experiment.hpp"

namespace paper {

namespace {
template <std::size_t C, std::size_t HW, std::size_t Out>
bool dispatch(const setting& s, std::size_t i, const data& d, const run_options& ro) {
  using namespace rhonet::arch;
  if (s.bn) return run_one<conv4_bn<C, HW, Out>>(s, i, d.image_train, d.image_test, ro);
  if (s.wn) return run_one<conv4_wn<C, HW, Out>>(s, i, d.image_train, d.image_test, ro);
  return run_one<conv4<C, HW, Out>>(s, i, d.image_train, d.image_test, ro);
}
}  // namespace

bool run_conv(const setting& s, std::size_t i, const data& d, const run_options& ro) {
  if (d.channels == 1 && d.side == 28)
    return d.outputs == 1 ? dispatch<1, 28, 1>(s, i, d, ro) : dispatch<1, 28, 2>(s, i, d, ro);
  if (d.channels == 3 && d.side == 32)
    return d.outputs == 1 ? dispatch<3, 32, 1>(s, i, d, ro) : dispatch<3, 32, 2>(s, i, d, ro);
  throw std::invalid_argument("conv4: no network instantiated for this image geometry");
}

}  // namespace paper
