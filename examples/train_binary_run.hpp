// The training side of `train_binary` (train_binary_run.cpp): data, network and
// rhonet::train, kept apart from the run folder's bookkeeping so that no unit of the program
// has to compile both the tensor library and the JSON manifest code.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <stdexcept>

#include "train_binary_cli.hpp"

namespace train_binary {

struct prepared;  // the two data sets, ready to train on

// Two classes, labels +-1, per-channel standardisation, unit norm, bias component.
std::shared_ptr<const prepared> load_data(const train_binary_cli::options& o);
std::size_t train_samples(const prepared& p);
std::size_t test_samples(const prepared& p);

struct outcome {
  double seconds = 0, train_error = 0, test_error = 0, rho = 0, rho_eq = 0;
};

// The run diverged (NaN, Inf or an exploding loss); the message names the epoch, step and
// layer.
struct diverged : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Training stopped on request (*stop set by SIGINT or SIGTERM) after the step in progress; with
// --checkpoint-dir, a checkpoint of that step was saved first.
struct interrupted : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Trains FC4-BN as the options say, writing the run files into o.out (and checkpoints,
// resuming from the newest one with --resume); throws `diverged`, `interrupted` or any error
// of the trainer.
outcome run_training(const train_binary_cli::options& o, const prepared& p, const std::atomic<bool>* stop = nullptr);

}  // namespace train_binary
