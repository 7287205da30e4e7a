// Definitions of run_fc_net and run_conv_net (nets.hpp), included only by the generated
// translation units that instantiate them.
#pragma once

#include "nets.hpp"

namespace paper {

template <std::size_t D, std::size_t Out, variant V>
bool run_fc_net(const setting& s, std::size_t i, const data& d, const run_options& ro) {
  using namespace rhonet::arch;
  if constexpr (V == variant::bn) return run_one<fc4_bn<D, 512, Out>>(s, i, d.flat_train, d.flat_test, ro);
  else if constexpr (V == variant::wn) return run_one<fc4_wn<D, 512, Out>>(s, i, d.flat_train, d.flat_test, ro);
  else return run_one<fc4<D, 512, Out>>(s, i, d.flat_train, d.flat_test, ro);
}

template <std::size_t C, std::size_t HW, std::size_t Out, variant V>
bool run_conv_net(const setting& s, std::size_t i, const data& d, const run_options& ro) {
  using namespace rhonet::arch;
  if constexpr (V == variant::bn) return run_one<conv4_bn<C, HW, Out>>(s, i, d.image_train, d.image_test, ro);
  else if constexpr (V == variant::wn) return run_one<conv4_wn<C, HW, Out>>(s, i, d.image_train, d.image_test, ro);
  else return run_one<conv4<C, HW, Out>>(s, i, d.image_train, d.image_test, ro);
}

}  // namespace paper
