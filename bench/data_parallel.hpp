// rhonet_bench_data_parallel in four translation units, so that none holds a network's code,
// the command line and the trainer's glue at once: the harness (data_parallel.cpp), its
// command line on CLI11 (data_parallel_cli.cpp) and one network each (data_parallel_fc.cpp,
// data_parallel_conv.cpp), behind the model interface.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include <rhonet/model.hpp>

namespace data_parallel_bench {

struct options {
  std::string net = "fc4_bn";
  std::size_t samples = 8192, batch = 128, epochs = 4;
  int repeats = 50;
};

// The options of the command line; an exit code instead when the program should stop (help
// printed, or a usage error reported).
std::optional<int> parse(int argc, char** argv, options& o);

// FC4-BN 785 -> 512 -> 512 -> 512 -> 1 and Conv4-BN on 1x28x28: the paper's binary
// Fashion-MNIST shapes, default-initialised.
std::unique_ptr<rhonet::model<float>> new_fc4_bn();
std::unique_ptr<rhonet::model<float>> new_conv4_bn();

}  // namespace data_parallel_bench
