// The command line of `train_multiclass` (parsed in train_multiclass_cli.cpp, the program's
// only unit that includes CLI11).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/usage_error.hpp"

namespace train_multiclass_cli {

struct options {
  std::string loss = "ce";  // ce (softmax cross-entropy) or square (one-hot targets)
  std::string out = "out/train_multiclass";
  std::size_t epochs = 3, batch = 64, limit_train = 0, val_size = 5000, limit_test = 0;
  std::uint64_t seed = 1;
  double lr = 0.05;
  bool augment = false;
};

// The options of a command line; throws cli::usage_error for --help or a mistake.
options parse(int argc, const char* const* argv);

}  // namespace train_multiclass_cli
