// The command line of `paper`, parsed and validated without any I/O: every mistake is
// reported before data is loaded or a folder is touched (and fuzz/cli.cpp can drive it).
// Parsing lives in paper_cli.cpp, the program's only unit that includes CLI11.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "common/usage_error.hpp"

namespace paper_cli {

// One of the paper's settings as the command line makes it (examples/paper/experiment.hpp
// turns it into a paper::setting).
struct planned_setting {
  std::string name;  // fc-bn-wd, conv-bn-nowd, plain, or arch-bn-wd for custom
  std::string arch;  // fc4 or conv4
  bool bn = true;
  double wd = 0, lr = 0.1, momentum = 0.9;
  std::uint64_t epochs = 12, batch = 128;
};

struct options {
  std::vector<planned_setting> settings;
  std::vector<std::string> init_labels;  // as written: they name the run folders (init_<label>)
  std::vector<double> inits;
  int class_a = 2, class_b = 4;
  std::string data = "fashion-mnist";  // or cifar10:FOLDER
  std::uint64_t outputs = 1;
  std::uint64_t limit_train = 0, limit_test = 0;  // 0: not given, all samples
  std::uint64_t seed = 1;
  std::uint64_t threads = 0;  // 0: not given, OpenBLAS's own choice
  double fallback = 0;        // 0: not given, no second attempt
  std::string preset = "quick";
  std::string out = "out/paper";
  bool overwrite = false, resume = false, no_report = false, quiet = false;
};

inline constexpr std::uint64_t max_epochs = 1000000;
inline constexpr std::uint64_t max_batch = std::uint64_t{1} << 20;
inline constexpr std::uint64_t max_samples = 1000000000;

// The options of a command line; throws cli::usage_error for --help or a mistake.
options parse(int argc, const char* const* argv);

}  // namespace paper_cli
