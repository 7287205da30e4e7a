// Definitions of new_fc and new_conv (nets.hpp), included only by the generated translation
// units that instantiate them.
#pragma once

#include <rhonet/architectures.hpp>

#include "nets.hpp"

namespace paper {

template <std::size_t D, std::size_t W, std::size_t Out, variant V>
std::unique_ptr<rhonet::model<float>> new_fc() {
  using namespace rhonet::arch;
  if constexpr (V == variant::bn) return rhonet::make_unique_model<fc4_bn<D, W, Out>>();
  else if constexpr (V == variant::wn) return rhonet::make_unique_model<fc4_wn<D, W, Out>>();
  else return rhonet::make_unique_model<fc4<D, W, Out>>();
}

template <std::size_t C, std::size_t HW, std::size_t Out, variant V>
std::unique_ptr<rhonet::model<float>> new_conv() {
  using namespace rhonet::arch;
  if constexpr (V == variant::bn) return rhonet::make_unique_model<conv4_bn<C, HW, Out>>();
  else if constexpr (V == variant::wn) return rhonet::make_unique_model<conv4_wn<C, HW, Out>>();
  else return rhonet::make_unique_model<conv4<C, HW, Out>>();
}

}  // namespace paper
