// Batch norm and ReLU on a flat and an image activation (layer_bench.hpp).
#include "layer_bench.hpp"

#include <rhonet/layers/batch_norm.hpp>
#include <rhonet/layers/relu.hpp>

namespace {

using namespace bench::layers;

const bool registered = [] {
  add_elementwise_layer<rhonet::batch_norm<>, shape<512>>("batch_norm/512");
  add_elementwise_layer<rhonet::batch_norm<>, shape<32, 14, 14>>("batch_norm/32x14x14");
  add_elementwise_layer<rhonet::relu, shape<512>>("relu/512");
  add_elementwise_layer<rhonet::relu, shape<32, 14, 14>>("relu/32x14x14");
  return true;
}();

}  // namespace
