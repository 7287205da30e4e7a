// The prepared data of a sweep (experiment.hpp's opaque `data`): included by the units that
// train or dispatch networks only.
#pragma once

#include <string>

#include <rhonet/data/dataset.hpp>

#include "experiment.hpp"

namespace paper {

struct data {
  rhonet::dataset<float> flat_train, flat_test;    // unit norm + bias component (FC nets)
  rhonet::dataset<float> image_train, image_test;  // unit norm, NCHW (conv nets)
  std::string name;                                // fashion-mnist or cifar10
  std::size_t channels = 1, side = 28, outputs = 1;
};

}  // namespace paper
