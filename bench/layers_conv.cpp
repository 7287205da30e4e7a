// The convolutions of Conv4 on Fashion-MNIST (1 x 28 x 28) and CIFAR-10 (3 x 32 x 32)
// (layer_bench.hpp).
#include "layer_bench.hpp"

namespace {

using namespace bench::layers;

const bool registered = [] {
  add_conv<1, 28, 32, 3, 2, 1>();
  add_conv<32, 14, 64, 3, 2, 1>();
  add_conv<64, 7, 128, 3, 2, 1>();
  add_conv<128, 4, 1, 4, 1, 0>();
  add_conv<3, 32, 32, 3, 2, 1>();
  add_conv<32, 16, 64, 3, 2, 1>();
  add_conv<64, 8, 128, 3, 2, 1>();
  return true;
}();

}  // namespace
