#include <rhonet/architectures.hpp>

#include "data_parallel.hpp"

std::unique_ptr<rhonet::model<float>> data_parallel_bench::new_conv4_bn() {
  return rhonet::make_unique_model<rhonet::arch::conv4_bn<1, 28, 1, float>>();
}
