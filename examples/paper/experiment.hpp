// The paper's experiment, shared by the translation units of `paper`: a setting (which
// network, BN, WD, lr...), the prepared data, and the run of one setting at one init scale.
#pragma once

#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <rhonet/rhonet.hpp>
#include <rhonet/train.hpp>

namespace paper {

struct setting {
  std::string name;      // fc-bn-wd, conv-bn-nowd, plain, or arch-bn-wd
  std::string arch;      // fc4 or conv4
  bool bn = true;
  bool wn = false;       // weight-normalised layers instead of plain ones (no BN)
  double wd = 0.01;
  double lr = 0.1;
  double fallback_from = 0;  // the lr that diverged, when this run uses a fallback lr
  double momentum = 0.9;
  std::size_t epochs = 1000;
  std::size_t batch = 128;
  std::vector<double> inits{0.1, 1, 5};
  std::vector<std::string> init_labels{"0.1", "1", "5"};
};

struct data {
  rhonet::dataset<float> flat_train, flat_test;    // unit norm + bias component (FC nets)
  rhonet::dataset<float> image_train, image_test;  // unit norm, NCHW (conv nets)
  std::string name;                                // fashion-mnist or cifar10
  std::size_t channels = 1, side = 28, outputs = 1;
};

struct run_options {
  std::filesystem::path out;
  std::uint64_t seed = 1;
  bool progress = true;
};

inline std::string init_dir(const std::string& label) { return "init_" + label; }

// Trains Net on the setting at one init scale; returns false if the run diverged.
template <class Net>
bool run_one(const setting& s, std::size_t init_index, const rhonet::dataset<float>& train,
             const rhonet::dataset<float>& test, const run_options& ro) {
  auto net = std::make_unique<Net>();
  rhonet::init_frobenius(net->parameters(), s.inits[init_index], ro.seed);
  rhonet::train_options opt;
  opt.epochs = s.epochs;
  opt.batch = s.batch;
  opt.seed = ro.seed;
  opt.sgd = {.lr = s.lr, .momentum = s.momentum, .weight_decay = s.wd};
  opt.out_dir = ro.out / s.name / init_dir(s.init_labels[init_index]);
  opt.progress = ro.progress;
  opt.meta = {{"setting", s.name}, {"arch", s.arch}, {"bn", s.bn}, {"wn", s.wn}, {"wd", s.wd},
              {"init", s.inits[init_index]}, {"init_label", s.init_labels[init_index]},
              {"lr", s.lr}, {"momentum", s.momentum}, {"batch", s.batch},
              {"epochs", s.epochs}, {"outputs", Net::output_size}, {"seed", ro.seed},
              {"train_samples", train.size()}, {"test_samples", test.size()}};
  if (s.fallback_from > 0) opt.meta["diverged_lr"] = s.fallback_from;
  std::printf("[%s, init %s] %s\n", s.name.c_str(), s.init_labels[init_index].c_str(),
              Net::signature().c_str());
  std::fflush(stdout);
  try {
    const auto r = rhonet::train(*net, train, test, opt);
    const auto& f = r.history.back();
    std::printf("[%s, init %s] done in %.1f s: train error %.4f, test error %.4f, rho %.4g, "
                "rho_eq %.4g\n", s.name.c_str(), s.init_labels[init_index].c_str(), r.seconds,
                f.train_error, f.test_error, f.rho, f.rho_eq);
    return true;
  } catch (const rhonet::training_diverged& e) {
    std::printf("[%s, init %s] DIVERGED: %s\n", s.name.c_str(), s.init_labels[init_index].c_str(),
                e.what());
    return false;
  }
}

// Defined in fc.cpp and conv.cpp (one translation unit per family keeps compiles short).
bool run_fc(const setting& s, std::size_t init_index, const data& d, const run_options& ro);
bool run_conv(const setting& s, std::size_t init_index, const data& d, const run_options& ro);

}  // namespace paper
