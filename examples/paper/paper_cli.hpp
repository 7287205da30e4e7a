// The command line of `paper`, parsed and validated without any I/O: every mistake is
// reported before data is loaded or a folder is touched (and fuzz/cli.cpp can drive it).
// Parsing lives in paper_cli.cpp, the program's only unit that includes CLI11.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "common/override.hpp"
#include "common/usage_error.hpp"

namespace paper_cli {

// One of the paper's settings as the command line makes it (examples/paper/experiment.hpp
// turns it into a paper::setting).
struct planned_setting {
  std::string name;  // a named setting (named_settings()) or arch-bn-wd for custom
  std::string arch;  // fc4 or conv4
  bool bn = true;
  bool wn = false;   // weight-normalised layers (no BN)
  std::uint64_t width = 512;  // FC4's hidden width (conv4 has the paper's channels)
  double wd = 0, lr = 0.1, momentum = 0.9;
  std::uint64_t epochs = 12, batch = 128;
  std::vector<std::string> init_labels;  // as written: they name the run folders (init_<label>)
  std::vector<double> inits;             // Frobenius norm of every weight matrix at init
  std::uint64_t flow_samples = 0;        // > 0: gradient flow (full-batch GD, momentum 0) on
                                         // the first flow_samples training samples
  bool operator==(const planned_setting&) const = default;
};

// The named settings and what each is for; the presets' epochs and inits.
struct named_setting {
  const char* name;
  const char* purpose;
  const char* arch;
  bool bn, wn;
  double wd, lr, momentum;  // lr: the paper's
  double quick_lr;          // the quick preset's (narrower nets; see named_settings())
  std::uint64_t quick_epochs, paper_epochs;
  const char* quick_inits;  // the paper preset runs every setting at 0.1,1,5 (flow settings: these)
  bool in_quick, in_paper;  // in the preset's default --experiment
  std::uint64_t flow_samples = 0;  // > 0: follows gradient flow on this many samples (epochs = steps)
};
const std::vector<named_setting>& named_settings();

struct options {
  std::vector<planned_setting> settings;
  // The classes, in output order: two give a binary task (the first -> +1 with one output),
  // more a one-hot task with one output per class.
  std::vector<int> classes{2, 4};
  std::string data = "fashion-mnist";  // or cifar10:FOLDER
  std::uint64_t outputs = 1;           // 1 or 2 for two classes, else the number of classes
  std::uint64_t limit_train = 0, limit_test = 0;  // 0: all samples
  std::uint64_t seed = 1;
  std::uint64_t seeds = 1;    // runs of every setting and init with seeds seed, seed+1, ..., seed+seeds-1
  std::uint64_t threads = 0;  // threads per run; 0: 1 when runs go in parallel, else OpenBLAS's count at load
  std::uint64_t jobs = 0;     // runs at once; 0: one per core of the machine
  double fallback = 0;        // 0: not given, no second attempt
  std::string preset = "quick";
  std::string out = "out/paper";
  bool overwrite = false, resume = false, no_report = false, quiet = false;
  std::vector<cli::override_value> overrides;  // --override, with --resume
  bool operator==(const options&) const = default;
};

inline constexpr std::uint64_t max_epochs = 1000000;
inline constexpr std::uint64_t max_batch = std::uint64_t{1} << 20;
inline constexpr std::uint64_t max_samples = 1000000000;
inline constexpr std::uint64_t max_seeds = 1000;

// The output counts this build has networks for (the network types are compiled ahead, one
// translation unit each: examples/CMakeLists.txt, RHONET_PAPER_OUTPUTS).
const std::vector<std::uint64_t>& compiled_outputs();

// The options of a command line; throws cli::usage_error for --help or a mistake.
options parse(int argc, const char* const* argv);
// The same, reusing one parser for every call (not thread-safe; for fuzz/cli.cpp).
options parse_reusing(int argc, const char* const* argv);

}  // namespace paper_cli
