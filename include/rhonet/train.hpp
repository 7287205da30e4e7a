// train(): the whole training loop in one call, a thin wrapper over trainer<T> and its
// observers (train/trainer.hpp): SGD, Adam or AdamW over a shuffling batcher, observations of the paper's
// quantities on a schedule, CSV and summary in out_dir (docs/run-format.md), a progress line,
// checkpoints and resume, and a clear stop on numerical faults (docs/reliability.md).
#pragma once

#include <cmath>
#include <cstdio>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <rhonet/model.hpp>
#include <rhonet/train/checkpointer.hpp>
#include <rhonet/train/csv_log.hpp>
#include <rhonet/train/fault_guard.hpp>
#include <rhonet/train/flow_check.hpp>
#include <rhonet/train/paper_observables.hpp>
#include <rhonet/train/progress.hpp>
#include <rhonet/train/run_summary.hpp>
#include <rhonet/train/trainer.hpp>

namespace rhonet {

struct train_options {
  std::size_t epochs = 10;
  std::size_t batch = 128;
  std::uint64_t seed = 1;          // shuffling
  sgd_options sgd{};               // lr, momentum, weight decay (PyTorch's semantics)
  std::optional<adam_options> adam{};    // Adam instead of SGD (as in trainer_options)
  std::optional<adamw_options> adamw{};  // AdamW instead of SGD
  lr_schedule schedule{};          // lr per epoch; constant sgd.lr when left default
  bool use_schedule = false;
  std::optional<plateau_options> plateau{};  // ReduceLROnPlateau on plateau_metric (trainer_options)
  std::string plateau_metric = "epoch_loss";
  reduction loss_reduction = reduction::mean;  // of the square loss
  std::optional<training_loss> loss{};         // another loss (e.g. cross_entropy) when set
  bool drop_last = false;          // PyTorch's DataLoader default keeps the partial batch
  // Observations: epoch 0, the first iterations (1, 2, 4, ... < one epoch), then every
  // epoch when epochs <= every_epoch_up_to, else about log_points log-spaced epochs.
  std::size_t every_epoch_up_to = 60;
  std::size_t log_points = 60;
  double divergence_loss = 1e8;    // a batch loss above this (mean form) stops the run
  std::filesystem::path out_dir{}; // observations.csv, margins.csv, summary.json; empty: none
  nlohmann::json meta = nlohmann::json::object();  // copied into summary.json
  bool progress = true;
  std::function<void(std::size_t epoch)> on_epoch{};  // called after each epoch's checkpoint
  // Checkpoints (docs/reliability.md): after every checkpoint_every-th epoch (and the last),
  // checkpoint_dir/ckpt-<epoch> holds the state of every component, so that a resumed run
  // continues bit-identically. The newest keep_checkpoints are kept (0: all). A folder that
  // already holds checkpoints is used only with resume (never overwritten); resume without
  // any checkpoint there starts from the beginning.
  std::filesystem::path checkpoint_dir{};  // empty: no checkpoints
  std::size_t checkpoint_every = 1;
  std::size_t keep_checkpoints = 2;
  bool resume = false;
  // When set and *stop becomes true, training ends after the step in progress with
  // training_interrupted; summary.json records it. With checkpoint_dir, the state of that
  // moment is saved first (mid-epoch too), and resume continues from exactly there.
  const std::atomic<bool>* stop = nullptr;
  // Fields a resume may change (trainer_options::overrides: "lr", "momentum",
  // "weight_decay"): the new value applies from the checkpoint on, and summary.json's
  // "changes" records field, old and new value, epoch and step.
  std::set<std::string> overrides{};
  // Update each parameter inside the backward pass (trainer_options::update_in_backward):
  // the same numbers, less memory traffic.
  bool update_in_backward = false;
  // Subnormal numbers flushed to zero while training (trainer_options::flush_subnormals).
  bool flush_subnormals = true;
};

struct train_result {
  std::vector<observation> history;  // the observations made by this call (a resumed run's
                                     // earlier ones are in its CSV)
  double seconds = 0;                // including the time before a resume
  std::size_t resumed_from_epoch = 0;         // 0: started from scratch
  std::filesystem::path last_checkpoint{};    // the newest checkpoint written or resumed from
  std::filesystem::path resumed_from{};       // the checkpoint the run resumed from, if any
  // Damaged checkpoints the resume skipped, newest first: where each was, where it was moved
  // (set_aside_checkpoint) and why it could not be loaded.
  struct skipped_checkpoint {
    std::filesystem::path checkpoint, moved_to;
    std::string reason;
  };
  std::vector<skipped_checkpoint> skipped{};
};

// Epochs after which to observe: all of 1..E when E is small, else log-spaced and E.
inline std::set<std::size_t> observation_epochs(std::size_t epochs, std::size_t every_up_to,
                                                std::size_t points) {
  std::set<std::size_t> s;
  if (epochs <= every_up_to) {
    for (std::size_t e = 1; e <= epochs; ++e) s.insert(e);
    return s;
  }
  for (std::size_t i = 0; i < points; ++i) {
    const double e = std::pow(double(epochs), double(i) / double(points - 1));
    s.insert(std::max<std::size_t>(1, std::size_t(std::lround(e))));
  }
  s.insert(epochs);
  return s;
}

namespace detail {

// Calls a function after each epoch's checkpoint (train_options::on_epoch).
template <class T>
class epoch_callback final : public run_observer<T> {
 public:
  explicit epoch_callback(std::function<void(std::size_t)> f) : f_(std::move(f)) {}
  void on_checkpoint(trainer<T>&, std::size_t epoch) override { f_(epoch); }

 private:
  std::function<void(std::size_t)> f_;
};

// The body of train(): depends on the element type only.
template <class T>
train_result train_model(model<T>& net, const dataset<T>& train_set, const dataset<T>& test_set,
                         const train_options& opt, const std::vector<run_observer<T>*>& extra) {
  trainer_options to;
  to.epochs = opt.epochs;
  to.batch = opt.batch;
  to.seed = opt.seed;
  to.drop_last = opt.drop_last;
  to.sgd = opt.sgd;
  to.adam = opt.adam;
  to.adamw = opt.adamw;
  if (opt.use_schedule) to.schedule = opt.schedule;
  to.plateau = opt.plateau;
  to.plateau_metric = opt.plateau_metric;
  to.loss = opt.loss ? *opt.loss : training_loss(square_loss{opt.loss_reduction});
  to.observe_epochs = observation_epochs(opt.epochs, opt.every_epoch_up_to, opt.log_points);
  to.stop = opt.stop;
  to.overrides = opt.overrides;
  to.update_in_backward = opt.update_in_backward;
  to.flush_subnormals = opt.flush_subnormals;
  trainer<T> t(net, train_set, to);

  t.add(std::make_unique<fault_guard<T>>(opt.divergence_loss));
  t.add(std::make_unique<paper_observables<T>>(test_set));
  if (!opt.out_dir.empty()) {
    t.add(std::make_unique<csv_log<T>>(opt.out_dir));
    t.add(std::make_unique<run_summary<T>>(opt.out_dir, opt.meta, &test_set));
  }
  const bool checkpointing = !opt.checkpoint_dir.empty();
  if (checkpointing) {
    if (opt.checkpoint_every == 0)
      throw std::invalid_argument("rhonet::train: checkpoint_every must be positive (leave checkpoint_dir "
                                  "empty for no checkpoints)");
    t.add(std::make_unique<checkpointer<T>>(opt.checkpoint_dir, opt.checkpoint_every, opt.keep_checkpoints));
  }
  if (opt.on_epoch) t.add(std::make_unique<epoch_callback<T>>(opt.on_epoch));
  for (run_observer<T>* o : extra) t.add(*o);
  if (opt.progress) t.add(std::make_unique<progress<T>>());

  // Resume: the newest complete checkpoint restores every component, so the following
  // epochs are those of an unbroken run. A damaged one (unreadable, truncated, non-finite) is
  // moved aside, saying why, and the next older one is tried; a checkpoint of another run
  // (checkpoint_mismatch) is an error.
  train_result result;
  if (checkpointing) {
    recover_checkpoints(opt.checkpoint_dir);
    const auto all = list_checkpoints(opt.checkpoint_dir);
    if (!all.empty() && !opt.resume)
      throw std::invalid_argument("rhonet::train: " + opt.checkpoint_dir.string() +
                                  " already holds checkpoints (newest " + all.back().second.filename().string() +
                                  "); resume to continue that run, or choose an empty folder");
    for (auto it = all.rbegin(); it != all.rend() && result.resumed_from.empty(); ++it) {
      try {
        t.resume(it->second);
        result.resumed_from = it->second;
      } catch (const checkpoint_mismatch&) {
        throw;
      } catch (const data_error& e) {
        const std::filesystem::path aside = set_aside_checkpoint(it->second);
        std::fprintf(stderr, "rhonet::train: skipping the damaged checkpoint %s (renamed to %s): %s\n",
                     it->second.c_str(), aside.filename().c_str(), e.what());
        result.skipped.push_back({it->second, aside, e.what()});
      }
    }
    if (!result.resumed_from.empty())
      std::fprintf(stderr, "rhonet::train: resuming from %s%s\n", result.resumed_from.c_str(),
                   result.skipped.empty() ? "" : ", the newest valid checkpoint");
    else if (!result.skipped.empty())
      std::fprintf(stderr, "rhonet::train: no valid checkpoint in %s: starting from the beginning\n",
                   opt.checkpoint_dir.c_str());
  }
  result.resumed_from_epoch = t.resumed_from_epoch();
  t.run();
  result.history = t.history();
  result.seconds = t.seconds();
  result.last_checkpoint = t.last_checkpoint();
  return result;
}

}  // namespace detail

// Trains `net` with the options above; see the header comment. Throws training_diverged on a
// numerical fault (summary.json records it first) and std::system_error when a file of the
// run cannot be written. `extra` observers (the caller's; e.g. flow_check) subscribe after the
// built-in ones and must outlive the call.
template <class Net, class T = typename Net::value_type>
  requires(!std::is_base_of_v<model<T>, Net>)
train_result train(Net& net, const dataset<T>& train_set, const dataset<T>& test_set, const train_options& opt,
                   const std::vector<run_observer<T>*>& extra = {}) {
  model_of<Net> m(net);
  return detail::train_model<T>(m, train_set, test_set, opt, extra);
}

// The same for a network behind the model interface (model.hpp).
template <class T>
train_result train(model<T>& net, const dataset<T>& train_set, const dataset<T>& test_set, const train_options& opt,
                   const std::vector<run_observer<T>*>& extra = {}) {
  return detail::train_model<T>(net, train_set, test_set, opt, extra);
}

}  // namespace rhonet
#include <rhonet/compiled.hpp>
