// Dispatch of a setting to its network (nets.hpp): architecture, variant, input geometry and
// outputs.
#include <stdexcept>
#include <string>

#include "data.hpp"
#include "nets.hpp"

namespace paper {

namespace {
variant variant_of(const setting& s) { return s.bn ? variant::bn : s.wn ? variant::wn : variant::plain; }

template <std::size_t D, std::size_t W, std::size_t Out>
std::unique_ptr<rhonet::model<float>> fc(variant v) {
  switch (v) {
    case variant::bn: return new_fc<D, W, Out, variant::bn>();
    case variant::wn: return new_fc<D, W, Out, variant::wn>();
    default: return new_fc<D, W, Out, variant::plain>();
  }
}

template <std::size_t D, std::size_t Out>
std::unique_ptr<rhonet::model<float>> fc(std::size_t width, variant v) {
  if (width == 128) return fc<D, 128, Out>(v);
  if (width == 512) return fc<D, 512, Out>(v);
  throw std::invalid_argument("fc4: no network instantiated for width " + std::to_string(width) +
                              " (128 or 512)");
}

template <std::size_t C, std::size_t HW, std::size_t Out>
std::unique_ptr<rhonet::model<float>> conv(variant v) {
  switch (v) {
    case variant::bn: return new_conv<C, HW, Out, variant::bn>();
    case variant::wn: return new_conv<C, HW, Out, variant::wn>();
    default: return new_conv<C, HW, Out, variant::plain>();
  }
}
}  // namespace

std::unique_ptr<rhonet::model<float>> new_network(const setting& s, const data& d) {
  const variant v = variant_of(s);
  const bool one = d.outputs == 1;
  if (s.arch == "fc4") {
    const std::size_t D = d.flat_train.features();
    if (D == 785) return one ? fc<785, 1>(s.width, v) : fc<785, 2>(s.width, v);
    if (D == 3073) return one ? fc<3073, 1>(s.width, v) : fc<3073, 2>(s.width, v);
    throw std::invalid_argument("fc4: no network instantiated for " + std::to_string(D) + " inputs");
  }
  if (d.channels == 1 && d.side == 28) return one ? conv<1, 28, 1>(v) : conv<1, 28, 2>(v);
  if (d.channels == 3 && d.side == 32) return one ? conv<3, 32, 1>(v) : conv<3, 32, 2>(v);
  throw std::invalid_argument("conv4: no network instantiated for " + std::to_string(d.channels) + " x " +
                              std::to_string(d.side) + " x " + std::to_string(d.side) + " images");
}

}  // namespace paper
