// Dispatch of an FC4 setting to its instantiation (nets.hpp): input size, outputs, variant.
#include <stdexcept>
#include <string>

#include "nets.hpp"

namespace paper {

namespace {
template <std::size_t D, std::size_t Out>
bool run(const setting& s, std::size_t i, const data& d, const run_options& ro) {
  switch (variant_of(s)) {
    case variant::bn: return run_fc_net<D, Out, variant::bn>(s, i, d, ro);
    case variant::wn: return run_fc_net<D, Out, variant::wn>(s, i, d, ro);
    default: return run_fc_net<D, Out, variant::plain>(s, i, d, ro);
  }
}
}  // namespace

bool run_fc(const setting& s, std::size_t i, const data& d, const run_options& ro) {
  const std::size_t D = d.flat_train.features();
  const bool one = d.outputs == 1;
  if (D == 785) return one ? run<785, 1>(s, i, d, ro) : run<785, 2>(s, i, d, ro);
  if (D == 3073) return one ? run<3073, 1>(s, i, d, ro) : run<3073, 2>(s, i, d, ro);
  throw std::invalid_argument("fc4: no network instantiated for " + std::to_string(D) + " inputs");
}

}  // namespace paper
