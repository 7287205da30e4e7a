// Dispatch of a setting to its network (nets.hpp): architecture, variant, input geometry and
// outputs.
#include <stdexcept>
#include <type_traits>
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

#ifndef RHONET_PAPER_OUTPUTS  // set by examples/CMakeLists.txt, with the units it generates
#define RHONET_PAPER_OUTPUTS 1, 2, 10
#endif

// Calls make(std::integral_constant<std::size_t, Out>) for the Out among the compiled output
// counts equal to n (the command line accepts only those).
template <std::size_t... Outs, class F>
std::unique_ptr<rhonet::model<float>> with_outputs(std::size_t n, F&& make) {
  std::unique_ptr<rhonet::model<float>> m;
  ((n == Outs && (m = make(std::integral_constant<std::size_t, Outs>{}), true)) || ...);
  if (!m) throw std::invalid_argument("no network with " + std::to_string(n) + " outputs in this build");
  return m;
}
}  // namespace

std::unique_ptr<rhonet::model<float>> new_network(const setting& s, const data& d) {
  const variant v = variant_of(s);
  return with_outputs<RHONET_PAPER_OUTPUTS>(d.outputs, [&](auto out) -> std::unique_ptr<rhonet::model<float>> {
    constexpr std::size_t Out = decltype(out)::value;
    if (s.arch == "fc4") {
      const std::size_t D = d.flat_train.features();
      if (D == 785) return fc<785, Out>(s.width, v);
      if (D == 3073) return fc<3073, Out>(s.width, v);
      throw std::invalid_argument("fc4: no network instantiated for " + std::to_string(D) + " inputs");
    }
    if (d.channels == 1 && d.side == 28) return conv<1, 28, Out>(v);
    if (d.channels == 3 && d.side == 32) return conv<3, 32, Out>(v);
    throw std::invalid_argument("conv4: no network instantiated for " + std::to_string(d.channels) + " x " +
                                std::to_string(d.side) + " x " + std::to_string(d.side) + " images");
  });
}

}  // namespace paper
