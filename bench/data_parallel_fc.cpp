#include <rhonet/architectures.hpp>

#include "data_parallel.hpp"

std::unique_ptr<rhonet::model<float>> data_parallel_bench::new_fc4_bn() {
  return rhonet::make_unique_model<rhonet::arch::fc4_bn<785, 512, 1, float>>();
}
