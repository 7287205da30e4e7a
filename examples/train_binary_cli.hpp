// The command line of `train_binary`, parsed and validated without any I/O (fuzz/cli.cpp
// drives it too). Parsing lives in train_binary_cli.cpp, the program's only unit that
// includes CLI11.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/override.hpp"
#include "common/usage_error.hpp"

namespace train_binary_cli {

struct options {
  std::uint64_t epochs = 5, class_a = 2, class_b = 4;
  double lr = 0.01, wd = 0.01, init = 1;
  std::uint64_t limit_train = 0, limit_test = 0;  // 0: not given, all samples
  std::string out = "out/train_binary", checkpoint_dir;
  std::uint64_t checkpoint_every = 1, keep_checkpoints = 2;
  bool resume = false, overwrite = false;
  std::uint64_t threads = 0;  // 0: not given, OpenBLAS's own choice
  std::vector<cli::override_value> overrides;  // --override, with --resume
  bool operator==(const options&) const = default;
};

// The options of a command line; throws cli::usage_error for --help or a mistake.
options parse(int argc, const char* const* argv);
// The same, reusing one parser for every call (not thread-safe; for fuzz/cli.cpp).
options parse_reusing(int argc, const char* const* argv);

}  // namespace train_binary_cli
