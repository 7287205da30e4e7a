// The paper's experiment, shared by the translation units of `paper`: a setting (which
// network, BN, WD, lr...), the prepared data (data.cpp), and the run of one setting at one
// init scale (experiment.cpp). Light on purpose: the sweep's unit (paper.cpp) includes no
// tensor library.
#pragma once

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>


namespace paper {

struct setting {
  std::string name;      // fc-bn-wd, conv-bn-nowd, plain, or arch-bn-wd
  std::string arch;      // fc4 or conv4
  bool bn = true;
  bool wn = false;       // weight-normalised layers instead of plain ones (no BN)
  std::size_t width = 512;  // FC4's hidden width: 512 (the paper's) or 128
  double wd = 0.01;
  double lr = 0.1;
  double fallback_from = 0;  // the lr that diverged, when this run uses a fallback lr
  double momentum = 0.9;
  std::size_t epochs = 1000;
  std::size_t batch = 128;
  std::vector<double> inits{0.1, 1, 5};
  std::vector<std::string> init_labels{"0.1", "1", "5"};
  std::size_t flow_samples = 0;  // > 0: gradient flow, full-batch GD (batch = this) on the
                                 // first flow_samples training samples, momentum 0
};

// The prepared data sets (data.hpp, which only the units that train include).
struct data;

// Which data to prepare: the command line's choice.
struct data_request {
  std::string spec;  // fashion-mnist or cifar10:FOLDER
  std::vector<int> classes{2, 4};  // two: a binary task; more: one-hot over them, in this order
  std::size_t outputs = 1;          // two classes: 1 (+-1) or 2 (one-hot); more: classes.size()
  std::size_t limit_train = 0, limit_test = 0;  // 0: all samples
};

// What the sweep reports and records of the prepared data.
struct data_info {
  std::string name;  // fashion-mnist or cifar10
  std::size_t train = 0, test = 0, channels = 1, side = 28, outputs = 1;
};

// Loads the chosen classes, standardises them per channel and scales every sample to unit norm
// (data.cpp).
std::shared_ptr<const data> load_data(const data_request& r);
data_info describe(const data& d);

struct run_options {
  std::filesystem::path out;
  std::uint64_t seed = 1;
  bool progress = true;
  std::string folder{};  // the run's folder under `out` (run_folder()); empty: <setting>/init_<label>
  std::string title{};   // how the run's lines begin (run_title()); empty: "[<setting>, init <label>]"
  // Checkpoints (run folder/ckpt, every checkpoint_every(epochs) epochs and at a stop):
  // continue from the newest one, if any; the trainer's fields a resume may change.
  bool resume = false;
  std::vector<std::string> overrides{};
  const std::atomic<bool>* stop = nullptr;  // set by SIGINT / SIGTERM: stop after the step
};

inline std::string init_dir(const std::string& label) { return "init_" + label; }

// A run's folder under the output folder: <setting>/init_<label>, and one level more,
// seed_<seed>, when the sweep trains several seeds of every run.
inline std::string run_folder(const std::string& setting, const std::string& label, std::uint64_t seed,
                              bool several_seeds) {
  return setting + "/" + init_dir(label) + (several_seeds ? "/seed_" + std::to_string(seed) : "");
}
// How a run's own lines begin: "[fc-bn-wd, init 1]", with ", seed 2" when the sweep has
// several seeds; and its name in a list of runs, "fc-bn-wd init 1" (" seed 2").
inline std::string run_title(const std::string& setting, const std::string& label, std::uint64_t seed,
                             bool several_seeds) {
  return "[" + setting + ", init " + label + (several_seeds ? ", seed " + std::to_string(seed) : "") + "]";
}
inline std::string run_name(const std::string& setting, const std::string& label, std::uint64_t seed,
                            bool several_seeds) {
  return setting + " init " + label + (several_seeds ? " seed " + std::to_string(seed) : "");
}

// A run's checkpoints: kept while it runs, deleted when it ends (finished or diverged).
inline std::filesystem::path checkpoint_dir(const std::filesystem::path& run_folder) { return run_folder / "ckpt"; }
// About 20 checkpoints over a run (and one at a stop), the newest 2 kept.
inline std::size_t checkpoint_every(std::size_t epochs) { return epochs / 20 > 1 ? epochs / 20 : 1; }

// The run was stopped on request (run_options::stop); `checkpoint` holds its state then.
struct interrupted : std::runtime_error {
  std::filesystem::path checkpoint;
  interrupted(const std::string& what, std::filesystem::path ckpt)
      : std::runtime_error(what), checkpoint(std::move(ckpt)) {}
};

// Trains the setting's network (nets.hpp) at one init scale; returns false if the run
// diverged; throws `interrupted` when stopped.
bool run_one(const setting& s, std::size_t init_index, const data& d, const run_options& ro);

}  // namespace paper
