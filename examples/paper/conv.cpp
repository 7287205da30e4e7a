// Dispatch of a Conv4 setting to its instantiation (nets.hpp): image geometry, outputs, variant.
#include <stdexcept>

#include "nets.hpp"

namespace paper {

namespace {
template <std::size_t C, std::size_t HW, std::size_t Out>
bool run(const setting& s, std::size_t i, const data& d, const run_options& ro) {
  switch (variant_of(s)) {
    case variant::bn: return run_conv_net<C, HW, Out, variant::bn>(s, i, d, ro);
    case variant::wn: return run_conv_net<C, HW, Out, variant::wn>(s, i, d, ro);
    default: return run_conv_net<C, HW, Out, variant::plain>(s, i, d, ro);
  }
}
}  // namespace

bool run_conv(const setting& s, std::size_t i, const data& d, const run_options& ro) {
  const bool one = d.outputs == 1;
  if (d.channels == 1 && d.side == 28) return one ? run<1, 28, 1>(s, i, d, ro) : run<1, 28, 2>(s, i, d, ro);
  if (d.channels == 3 && d.side == 32) return one ? run<3, 32, 1>(s, i, d, ro) : run<3, 32, 2>(s, i, d, ro);
  throw std::invalid_argument("conv4: no network instantiated for this image geometry");
}

}  // namespace paper
