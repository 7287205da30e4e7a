// trainer<T>: the training loop as an object with named phases, and run_observer<T>, what
// subscribes to them (docs/architecture.md, "The top floor").
//
//   rhonet::model_of<my_net> m(*net);
//   rhonet::trainer<float> t(m, train_set, {.epochs = 30, .batch = 128, .sgd = {...}});
//   (or .adam = rhonet::adam_options{...}, .adamw = ...; optionally .plateau = {...})
//   t.add(std::make_unique<rhonet::fault_guard<float>>());
//   t.add(std::make_unique<rhonet::paper_observables<float>>(test_set));
//   t.add(std::make_unique<rhonet::csv_log<float>>("out/run"));
//   t.run();
//
// Phases, in the order they happen:
//   begin       once, before the first epoch of this call (after a resume, if any)
//   step        every SGD step, in three hooks: on_batch (the batch, before the forward pass),
//               on_backward (loss and gradients, before the update; with
//               update_in_backward after it), on_step (after it)
//   epoch       after an epoch's last step
//   observe     at scheduled points (epoch 0, steps 1, 2, 4, ... of the first epoch, then the
//               epochs of trainer_options::observe_epochs): observers fill an observation
//               (measure), then all see it (on_observe)
//   checkpoint  after every epoch, once its observation is recorded: the point where state
//               may be saved (the checkpointer observer saves here when due)
//   end         once, when the run finishes or stops on an error (then the error is rethrown)
// Observers are called in the order they were added.
//
// The trainer owns the optimizer (sgd, adam or adamw), the plateau scheduler if any, and the
// batcher; the model and the data sets belong to the caller. Everything here depends on the element type only (the model is type-erased).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <rhonet/core/subnormals.hpp>
#include <rhonet/data/batcher.hpp>
#include <rhonet/data/dataset.hpp>
#include <rhonet/io/checkpoint.hpp>
#include <rhonet/loss.hpp>
#include <rhonet/model.hpp>
#include <rhonet/observe/observation.hpp>
#include <rhonet/optim.hpp>
#include <rhonet/parallel/data_parallel.hpp>

namespace rhonet {

// A numerical fault: NaN or Inf in an input batch, the loss, a gradient or a weight, or a
// loss beyond the divergence bound. epoch() is the epoch (1-based) and step() the SGD step
// (1-based, counted over the whole run) during which it appeared; where() names the sample,
// layer or parameter. last_checkpoint() is the newest checkpoint on disk (empty if none):
// it holds the state after the last completed epoch, all finite.
class training_diverged : public std::runtime_error {
 public:
  training_diverged(std::size_t epoch, std::size_t step, std::string where, std::string what,
                    std::filesystem::path last_checkpoint = {})
      : std::runtime_error("training diverged at epoch " + std::to_string(epoch) + ", step " +
                           std::to_string(step) + ": " + what + " (" + where + ")" +
                           (last_checkpoint.empty() ? std::string()
                                                    : "; the last good checkpoint is " + last_checkpoint.string())),
        epoch_(epoch), step_(step), where_(std::move(where)), reason_(std::move(what)),
        last_checkpoint_(std::move(last_checkpoint)) {}
  std::size_t epoch() const { return epoch_; }
  std::size_t step() const { return step_; }
  const std::string& where() const { return where_; }
  const std::string& reason() const { return reason_; }
  const std::filesystem::path& last_checkpoint() const { return last_checkpoint_; }

 private:
  std::size_t epoch_, step_;
  std::string where_, reason_;
  std::filesystem::path last_checkpoint_;
};

// A run stopped on request (trainer_options::stop, e.g. set by a SIGINT handler) after the
// step in progress: the folder is consistent (summary.json says so) and the newest checkpoint,
// if any, is where a resume continues.
class training_interrupted : public std::runtime_error {
 public:
  training_interrupted(std::size_t epoch, std::size_t step, std::filesystem::path last_checkpoint)
      : std::runtime_error("training interrupted at epoch " + std::to_string(epoch) + ", step " +
                           std::to_string(step) +
                           (last_checkpoint.empty() ? std::string("; no checkpoint was written yet")
                                                    : "; resume continues from " + last_checkpoint.string())),
        epoch_(epoch), step_(step), last_checkpoint_(std::move(last_checkpoint)) {}
  std::size_t epoch() const { return epoch_; }
  std::size_t step() const { return step_; }
  const std::filesystem::path& last_checkpoint() const { return last_checkpoint_; }

 private:
  std::size_t epoch_, step_;
  std::filesystem::path last_checkpoint_;
};

// What defines a run: a checkpoint of a run resumes only with the same values (except
// epochs, which may be raised to continue).
struct trainer_options {
  std::size_t epochs = 10;
  std::size_t batch = 128;
  std::uint64_t seed = 1;          // shuffling
  bool drop_last = false;          // PyTorch's DataLoader default keeps the partial batch
  // The optimiser: SGD with these options unless adam or adamw is set (at most one of them;
  // sgd is then left at its default). All three follow PyTorch's update rules (optim/).
  sgd_options sgd{};               // lr, momentum, weight decay
  std::optional<adam_options> adam{};    // torch.optim.Adam (L2 weight decay)
  std::optional<adamw_options> adamw{};  // torch.optim.AdamW (decoupled weight decay)
  std::optional<lr_schedule> schedule{};  // lr per epoch; the optimiser's constant lr when empty
  // Lowers the lr when `plateau_metric` stops improving (PyTorch's ReduceLROnPlateau, stepped
  // after each epoch whose metric exists). Not together with `schedule`. The metric is
  // "epoch_loss" (the mean batch loss of the epoch, train mode), "epoch_error", or a column
  // of the observations (e.g. "test_loss"; then only observed epochs count).
  std::optional<plateau_options> plateau{};
  std::string plateau_metric = "epoch_loss";
  training_loss loss = square_loss{reduction::mean};
  // Observations after these epochs (empty: every epoch), plus epoch 0 and the early steps.
  std::set<std::size_t> observe_epochs{};
  bool observe_early_steps = true;  // steps 1, 2, 4, ... of the first epoch
  // When set and *stop becomes true, the run ends after the step in progress with
  // training_interrupted (not part of the run's identity); observers may save a checkpoint of
  // that moment first (run_observer::on_stop, the checkpointer does).
  const std::atomic<bool>* stop = nullptr;
  // Fields of the configuration a resume may change: "lr", and for SGD "momentum" and
  // "weight_decay". The checkpoint's value gives way to these options' and the change is
  // recorded (trainer::changes()); any other difference is refused. Not part of the identity.
  std::set<std::string> overrides{};
  // Updates each parameter inside the backward pass, as soon as its gradient is final, while
  // its value and gradient are still in cache (model::backward_and_step); bit-identical to
  // the update after the pass, so not part of the run's identity. Observers then see the
  // step's gradients with the weights already updated in on_backward: an observer that needs
  // the weights before the update (flow_check) refuses such a run.
  bool update_in_backward = false;
  // Flushes subnormal numbers to zero while run() trains (core/subnormals.hpp): a network
  // that decays below 1e-38 keeps its speed (without, steps get 20x slower), and its numbers
  // change only where they were subnormal. false leaves the thread's mode as it is. Part of
  // the run's identity (checkpoints from before this option resume either way).
  bool flush_subnormals = true;
  // Data-parallel training (docs/distributed.md): each process of the group takes its slice
  // of every batch, batch norm uses the global batch's statistics and the gradients are
  // summed across the processes, so that every process takes the step one process would
  // take on the whole batch. Every process runs the same trainer with the same options and
  // data; the observers each attaches are its own (files: rank 0's). nullptr: one process.
  // Not part of the run's identity: a run resumes on another number of processes.
  const process_group* group = nullptr;
};

// The fields trainer_options::overrides may name.
inline const std::set<std::string>& overridable_fields() {
  static const std::set<std::string> f{"lr", "momentum", "weight_decay"};
  return f;
}

// The optimiser the options choose: "sgd", "adam" or "adamw".
inline const char* optimizer_name(const trainer_options& o) {
  return o.adamw ? "adamw" : o.adam ? "adam" : "sgd";
}
// Its weight decay (coupled for sgd and adam, decoupled for adamw).
inline double optimizer_weight_decay(const trainer_options& o) {
  return o.adamw ? o.adamw->weight_decay : o.adam ? o.adam->weight_decay : o.sgd.weight_decay;
}

// The options as JSON (summary.json's "config", the trainer's checkpoint part). SGD's keys
// are those of earlier versions, so that their checkpoints resume.
inline nlohmann::json to_json(const trainer_options& o) {
  nlohmann::json j = {{"epochs", o.epochs},
                      {"batch", o.batch},
                      {"seed", o.seed},
                      {"drop_last", o.drop_last},
                      {"optimizer", optimizer_name(o)},
                      {"loss", loss_name(o.loss)},
                      {"reduction", loss_reduction(o.loss) == reduction::mean ? "mean" : "sum"},
                      {"flush_subnormals", o.flush_subnormals}};
  auto roles = [](const std::set<param_role>& r) {
    nlohmann::json a = nlohmann::json::array();
    for (param_role x : r) a.push_back(to_string(x));
    return a;
  };
  auto adam_keys = [&](const auto& a) {
    j["lr"] = a.lr;
    j["betas"] = {a.betas[0], a.betas[1]};
    j["eps"] = a.eps;
    j["weight_decay"] = a.weight_decay;
    j["decay_roles"] = roles(a.decay_roles);
  };
  if (o.adamw) {
    adam_keys(*o.adamw);
  } else if (o.adam) {
    adam_keys(*o.adam);
  } else {
    j["lr"] = o.sgd.lr;
    j["momentum"] = o.sgd.momentum;
    j["weight_decay"] = o.sgd.weight_decay;
    j["nesterov"] = o.sgd.nesterov;
    j["decay_roles"] = roles(o.sgd.decay_roles);
  }
  if (o.plateau) {
    const plateau_options& p = *o.plateau;
    j["plateau"] = {{"metric", o.plateau_metric}, {"mode", to_string(p.mode)}, {"factor", p.factor},
                    {"patience", p.patience}, {"threshold", p.threshold},
                    {"threshold_mode", to_string(p.threshold_mode)}, {"cooldown", p.cooldown},
                    {"min_lr", p.min_lr}, {"eps", p.eps}};
  } else {
    j["plateau"] = nullptr;
  }
  if (o.schedule) {
    const char* kinds[] = {"constant", "step", "cosine"};
    j["schedule"] = {{"kind", kinds[int(o.schedule->type())]}, {"base_lr", o.schedule->base_lr()}};
  } else {
    j["schedule"] = nullptr;
  }
  return j;
}

template <class T>
struct step_report {
  std::size_t epoch;        // 1-based
  std::size_t step;         // the step's number (1-based, over the whole run)
  std::size_t samples;      // rows of this batch
  double loss;              // the batch loss (as the loss is reduced)
  std::size_t wrong;        // misclassified rows of this batch (train mode)
  const matrix<T>& x;       // the batch
  const matrix<T>& target;
  const matrix<T>* out = nullptr;  // the network's output for the batch (train mode); set
                                   // from on_backward on
};

struct epoch_report {
  std::size_t epoch;   // 1-based
  double loss;         // mean over the epoch's samples of the batch losses (train mode)
  double error;        // fraction of the epoch's samples misclassified (train mode)
  std::size_t samples;
};

struct run_outcome {
  bool finished = false;     // all epochs done
  bool diverged = false;     // stopped by a numerical fault (training_diverged)
  bool interrupted = false;  // stopped on request (training_interrupted)
  std::string error;      // the message of what stopped the run, if anything
  nlohmann::json diverged_at = nullptr;  // {"epoch", "step", "where"} after a fault
};

template <class T>
class trainer;

template <class T>
class run_observer {
 public:
  virtual ~run_observer() = default;
  virtual void on_begin(trainer<T>&) {}
  virtual void on_batch(trainer<T>&, const step_report<T>&) {}     // loss, wrong: not yet known
  // After the backward pass, before the update (with update_in_backward: after it too).
  virtual void on_backward(trainer<T>&, const step_report<T>&) {}
  virtual void on_step(trainer<T>&, const step_report<T>&) {}      // after the update
  virtual void on_epoch(trainer<T>&, const epoch_report&) {}
  // Fill this observer's columns of an observation; return whether it measured anything.
  virtual bool measure(trainer<T>&, observation&) { return false; }
  virtual void on_observe(trainer<T>&, const observation&) {}
  virtual void on_checkpoint(trainer<T>&, std::size_t /*epoch*/) {}
  // The run was stopped on request (trainer_options::stop) after a step, possibly in the
  // middle of an epoch: the last chance to save its state (before on_end).
  virtual void on_stop(trainer<T>&) {}
  virtual void on_end(trainer<T>&, const run_outcome&) {}
  // The observer's own part of a checkpoint; most keep no state.
  virtual void save_state(checkpoint_writer<T>&) const {}
  virtual void load_state(const checkpoint_reader<T>&) {}
};

// A member defined outside the class must also be named in compiled.hpp (RHONET_TOP_FLOOR_TRAIN
// or _TRAIN_STATE), or programs built with rhonet::compiled will not link.
template <class T>
class trainer {
 public:
  using value_type = T;

  // Keeps references to the model and the training set: both must outlive the trainer.
  trainer(model<T>& net, const dataset<T>& train, trainer_options opt);
  trainer(model<T>&, const dataset<T>&&, trainer_options) = delete;

  trainer& add(run_observer<T>& o) {
    observers_.push_back(&o);
    return *this;
  }
  trainer& add(std::unique_ptr<run_observer<T>> o) {
    observers_.push_back(o.get());
    owned_.push_back(std::move(o));
    return *this;
  }

  // Trains until options().epochs are done. A numerical fault ends the run with
  // training_diverged, any other error with its own exception; observers see on_end first.
  void run();

  // Continues from a checkpoint written by save_checkpoint: the model's tensors, the
  // optimizer, the batcher's RNG, the epoch and the observers' state. A checkpoint of another
  // run (another seed, batch, loss, training set, ...) is refused, naming the field.
  void resume(const std::filesystem::path& checkpoint);
  // Writes every component's state into the folder `dir` (atomically).
  void save_checkpoint(const std::filesystem::path& dir);

  model<T>& net() { return *net_; }
  const dataset<T>& train_set() const { return *train_; }
  const trainer_options& options() const { return opt_; }
  // The optimiser trainer_options chose (sgd, adam or adamw; dynamic_cast for its own API).
  rhonet::optimizer<T>& optimizer() { return *optim_; }
  const rhonet::optimizer<T>& optimizer() const { return *optim_; }
  // The plateau scheduler, when trainer_options::plateau is set.
  const reduce_lr_on_plateau* plateau() const { return plateau_ ? &*plateau_ : nullptr; }
  batcher<T>& batches() { return batches_; }
  const batcher<T>& batches() const { return batches_; }

  std::size_t epochs_done() const { return epoch_; }
  std::size_t steps() const { return optim_->step_count(); }
  std::size_t steps_per_epoch() const { return batches_.batches_per_epoch(); }
  // Wall time of the run, including the time before a resume.
  double seconds() const {
    return seconds_before_ + std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  // lambda of the sum-form loss sum_n (g_n - y_n)^2 + lambda sum_k ||W_k||^2 that the
  // optimizer's PyTorch-style weight decay amounts to (observe/observation.hpp). For AdamW,
  // whose decay is not a penalty's gradient, the value SGD would have with that decay.
  double lambda() const {
    const double wd = optimizer_weight_decay(opt_);
    return loss_reduction(opt_.loss) == reduction::mean ? sum_form_lambda(wd, train_->size()) : wd / 2;
  }
  std::size_t resumed_from_epoch() const { return resumed_from_; }
  // Whether resume() restored a checkpoint (possibly one written in the middle of epoch 1).
  bool resumed() const { return resumed_; }
  // The configuration changes made on resumes of this run, oldest first (overrides, epochs):
  // [{"field", "old", "new", "epoch", "step"}], the new value applying after `step` steps.
  const nlohmann::json& changes() const { return changes_; }
  const std::filesystem::path& last_checkpoint() const { return last_checkpoint_; }
  void set_last_checkpoint(std::filesystem::path p) { last_checkpoint_ = std::move(p); }
  const std::vector<observation>& history() const { return history_; }
  // A fingerprint of the training set (its size, shapes and values): part of a run's identity.
  // Computed once (the set is the caller's and must not change during the trainer's life).
  std::uint64_t train_fingerprint() const;

  // Runs the observe phase now (the trainer calls it on its schedule). Without broadcast the
  // observation goes into history() only, not to on_observe (nothing is logged).
  void observe(double epoch, bool broadcast = true);

 private:
  nlohmann::json config() const;
  std::vector<detail::ckpt::part<T>> state_parts();
  // resume()'s phases: the overrides that change a value, the check of the saved
  // configuration, and the trainer's own section read back.
  struct saved_progress;
  std::map<std::string, nlohmann::json> changing_overrides(const std::filesystem::path& dir,
                                                           const nlohmann::json& now) const;
  void check_saved_config(const checkpoint_reader<T>& r, const nlohmann::json& saved, const nlohmann::json& now,
                          const std::map<std::string, nlohmann::json>& changing) const;
  saved_progress read_trainer_section(const checkpoint_reader<T>& r) const;
  void make_optimizer(const trainer_options& o);
  // The plateau metric of the epoch just finished, if it was measured.
  std::optional<double> plateau_metric(const epoch_report& r) const;
  // run()'s phases: one epoch (its batches, then the epoch's observers, observation, plateau
  // and checkpoint) and one step on the batch of n rows in xb_, yb_. next_early: the step
  // count of the next early observation (powers of 2 in epoch 1).
  void train_epoch(std::size_t epoch, std::size_t& next_early);
  void train_step(std::size_t epoch, std::size_t n, std::size_t& next_early);

  model<T>* net_;
  const dataset<T>* train_;
  trainer_options opt_;
  std::unique_ptr<rhonet::optimizer<T>> optim_;
  detail::ckpt::part<T> optim_part_;  // the concrete optimiser's checkpoint part
  std::optional<reduce_lr_on_plateau> plateau_;
  batcher<T> batches_;
  std::vector<run_observer<T>*> observers_;
  std::vector<std::unique_ptr<run_observer<T>>> owned_;
  std::vector<observation> history_;
  std::size_t epoch_ = 0, resumed_from_ = 0;
  bool resumed_ = false;
  nlohmann::json changes_ = nlohmann::json::array();
  // The epoch in progress: batches done, the sums of its epoch_report, and the batcher's state
  // at its start. A checkpoint saved in the middle of an epoch (on_stop) holds these and that
  // batcher state; resuming fast-forwards the batcher over the batches done.
  struct epoch_progress {
    std::size_t batches = 0, seen = 0, wrong = 0;
    double loss = 0;
    std::string batcher_at_start;
  };
  epoch_progress cur_{};
  std::optional<epoch_progress> resume_in_epoch_{};
  struct saved_progress {  // the trainer's section of a checkpoint
    std::size_t epoch = 0;
    double seconds = 0;
    nlohmann::json changes = nlohmann::json::array();
    std::optional<nlohmann::json> epochs;  // the run's planned epochs then
    std::optional<epoch_progress> in_epoch;
  };
  double seconds_before_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::filesystem::path last_checkpoint_{};
  matrix<T> xb_, yb_, grad_;
  matrix<T> xs_, ys_;     // this process's slice of the batch (with a group)
  std::vector<T> flat_;   // the gradients in one buffer, for their sum (with a group)
  std::vector<parameter<T>*> params_;  // the model's parameters (with a group)
  bool stop_everywhere_ = false;
  mutable std::optional<std::uint64_t> fingerprint_;
};

template <class T>
trainer<T>::trainer(model<T>& net, const dataset<T>& train, trainer_options opt)
    : net_(&net), train_(&train), opt_(std::move(opt)),
      batches_(train, {.batch_size = opt_.batch, .seed = opt_.seed, .shuffle = true, .drop_last = opt_.drop_last}) {
  if (opt_.epochs == 0) throw std::invalid_argument("rhonet::trainer: epochs must be positive");
  if (opt_.adam && opt_.adamw)
    throw std::invalid_argument("rhonet::trainer: trainer_options sets both adam and adamw; choose one optimiser");
  if ((opt_.adam || opt_.adamw) && !(opt_.sgd == sgd_options{}))
    throw std::invalid_argument(std::string("rhonet::trainer: trainer_options sets both sgd and ") +
                                optimizer_name(opt_) + "; leave sgd at its default when choosing another optimiser");
  for (const std::string& f : opt_.overrides) {
    if (!overridable_fields().count(f))
      throw std::invalid_argument("rhonet::trainer: overrides names '" + f + "'; only lr, momentum and weight_decay "
                                  "may change when a run resumes (the rest defines the run)");
    if (f != "lr" && (opt_.adam || opt_.adamw))
      throw std::invalid_argument("rhonet::trainer: overrides names '" + f + "', which only SGD's runs may change");
  }
  make_optimizer(opt_);
  if (opt_.plateau) {
    if (opt_.schedule)
      throw std::invalid_argument("rhonet::trainer: trainer_options sets both schedule and plateau; the plateau "
                                  "scheduler drives the lr alone");
    bool known = opt_.plateau_metric == "epoch_loss" || opt_.plateau_metric == "epoch_error";
    std::string names = "epoch_loss, epoch_error";
    for (const observation_column& c : observation_columns()) {
      known = known || opt_.plateau_metric == c.name;
      names += std::string(", ") + c.name;
    }
    if (!known)
      throw std::invalid_argument("rhonet::trainer: plateau_metric \"" + opt_.plateau_metric +
                                  "\" is not a metric; expected one of " + names);
    plateau_.emplace(*opt_.plateau);
  }
  if (train.x.shape()[1] != net.input_size())
    throw std::invalid_argument("rhonet::trainer: the training set (" + train.source + ") has " +
                                std::to_string(train.x.shape()[1]) + " features, the network takes " +
                                std::to_string(net.input_size()));
  if (!opt_.drop_last && train.size() % opt_.batch == 1 && net.uses_batch_statistics())
    throw std::invalid_argument("rhonet::trainer: " + std::to_string(train.size()) + " training samples in batches of " +
                                std::to_string(opt_.batch) + " leave a last batch of one sample, on which batch "
                                "norm cannot train; choose another batch size or set drop_last");
  if (train.target.shape()[1] != net.output_size())
    throw std::invalid_argument("rhonet::trainer: the training set (" + train.source + ") has targets of " +
                                std::to_string(train.target.shape()[1]) + " columns, the network has " +
                                std::to_string(net.output_size()) + " outputs");
  if (const process_group* g = opt_.group) {
    if (opt_.update_in_backward)
      throw std::invalid_argument("rhonet::trainer: update_in_backward with a process group; the update needs the "
                                  "gradients summed over the processes, after the backward pass");
    const std::size_t p = std::size_t(g->size()), last = train.size() % opt_.batch;
    if (opt_.batch < p || (!opt_.drop_last && last != 0 && last < p))
      throw std::invalid_argument("rhonet::trainer: batches of " + std::to_string(opt_.batch) + " (the last of " +
                                  std::to_string(opt_.drop_last || last == 0 ? opt_.batch : last) + ") over " +
                                  std::to_string(p) + " processes; every process needs a row of every batch");
  }
  net.set_process_group(opt_.group);
  if (opt_.group) params_ = net.parameters();  // kept: a step must not allocate
}

template <class T>
void trainer<T>::make_optimizer(const trainer_options& o) {
  if (o.adamw) {
    auto a = std::make_unique<adamw<T>>(net_->parameters(), *o.adamw);
    optim_part_ = detail::ckpt::part_of(*a);
    optim_ = std::move(a);
  } else if (o.adam) {
    auto a = std::make_unique<adam<T>>(net_->parameters(), *o.adam);
    optim_part_ = detail::ckpt::part_of(*a);
    optim_ = std::move(a);
  } else {
    auto a = std::make_unique<sgd<T>>(net_->parameters(), o.sgd);
    optim_part_ = detail::ckpt::part_of(*a);
    optim_ = std::move(a);
  }
}

template <class T>
std::uint64_t trainer<T>::train_fingerprint() const {
  if (fingerprint_) return *fingerprint_;
  // FNV-1a over the bytes of x and target (deterministic, order-sensitive).
  std::uint64_t h = 1469598103934665603ull;
  auto mix = [&](const void* p, std::size_t n) {
    const unsigned char* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  };
  const std::size_t dims[] = {train_->x.shape()[0], train_->x.shape()[1], train_->target.shape()[1]};
  mix(dims, sizeof dims);
  mix(train_->x.data(), train_->x.size() * sizeof(T));
  mix(train_->target.data(), train_->target.size() * sizeof(T));
  fingerprint_ = h;
  return h;
}

template <class T>
nlohmann::json trainer<T>::config() const {
  nlohmann::json c = to_json(opt_);
  c.erase("epochs");  // a run may be continued to more epochs
  c["train_samples"] = train_->size();
  c["train_fingerprint"] = train_fingerprint();
  c["model"] = net_->signature();
  return c;
}

// The parts of a checkpoint that carry state of their own (the trainer's and the observers'
// are added by the callers): network, optimiser, batcher, plateau scheduler.
template <class T>
std::vector<detail::ckpt::part<T>> trainer<T>::state_parts() {
  namespace ck = detail::ckpt;
  std::vector<ck::part<T>> parts{ck::network_part<T>(net_->parameters(), net_->buffers()), optim_part_,
                                 ck::part_of(batches_)};
  // In the middle of an epoch the batcher has no state of its own to save: its state at the
  // epoch's start stands in, and the trainer's part says how many batches followed.
  if (cur_.batches > 0)
    parts[2].save = [this](checkpoint_writer<T>& w) { w.put("batcher", "state", cur_.batcher_at_start); };
  if (plateau_) parts.push_back(ck::part_of<reduce_lr_on_plateau, T>(*plateau_));
  return parts;
}

template <class T>
void trainer<T>::save_checkpoint(const std::filesystem::path& dir) {
  namespace ck = detail::ckpt;
  std::vector<ck::part<T>> parts = state_parts();
  const double secs = seconds();
  parts.push_back({[this, secs](checkpoint_writer<T>& w) {
                     nlohmann::json t = {{"epoch", epoch_},   {"seconds", secs},      {"config", config()},
                                         {"epochs", opt_.epochs}, {"changes", changes_}};
                     if (cur_.batches > 0)
                       t["in_epoch"] = {{"batches", cur_.batches}, {"seen", cur_.seen}, {"wrong", cur_.wrong},
                                        {"loss", cur_.loss}};
                     w.put_section("trainer", t);
                   },
                   {}});
  for (run_observer<T>* o : observers_)
    parts.push_back({[o](checkpoint_writer<T>& w) { o->save_state(w); }, {}});
  ck::save<T>(dir, net_->signature(), parts, nlohmann::json::object());
  last_checkpoint_ = dir;
}

// The overridden fields whose value changes, from the checkpoint's manifest: read before
// loading, since SGD loads only into an optimiser with the saved momentum and weight decay.
template <class T>
std::map<std::string, nlohmann::json> trainer<T>::changing_overrides(const std::filesystem::path& dir,
                                                                     const nlohmann::json& now) const {
  std::map<std::string, nlohmann::json> changing;
  if (opt_.overrides.empty()) return changing;
  const nlohmann::json m = read_checkpoint_manifest(dir);
  if (m.contains("trainer") && m["trainer"].is_object() && m["trainer"].contains("config") &&
      m["trainer"]["config"].is_object()) {
    const nlohmann::json& saved = m["trainer"]["config"];
    for (const std::string& f : opt_.overrides)
      if (saved.contains(f) && now.contains(f) && saved[f].is_number() && saved[f] != now[f]) changing[f] = saved[f];
  }
  if (changing.count("lr") && opt_.schedule)
    throw std::invalid_argument("rhonet::trainer: lr cannot be overridden in a run with an lr schedule "
                                "(the schedule sets the lr of every epoch)");
  return changing;
}

// Every field of the saved configuration must be this run's, the optimiser's type first (its
// options mean nothing under another type); numbers compare as numbers (lr 1 is lr 1.0).
// Fields only this run has (newer options) are not checked: older checkpoints resume.
template <class T>
void trainer<T>::check_saved_config(const checkpoint_reader<T>& r, const nlohmann::json& saved,
                                    const nlohmann::json& now,
                                    const std::map<std::string, nlohmann::json>& changing) const {
  std::vector<std::string> keys;
  if (saved.contains("optimizer")) keys.push_back("optimizer");
  for (const auto& [key, value] : saved.items())
    if (key != "optimizer") keys.push_back(key);
  for (const std::string& key : keys) {
    if (changing.count(key)) continue;
    const nlohmann::json& value = saved[key];
    const nlohmann::json mine = now.contains(key) ? now[key] : nlohmann::json(nullptr);
    const bool same = value.is_number() && mine.is_number()
                          ? value.template get<double>() == mine.template get<double>()
                          : value == mine;
    if (!same)
      throw checkpoint_mismatch(r.manifest(), 0,
                                "a checkpoint of a run with " + key + " " + mine.dump() +
                                    (overridable_fields().count(key) ? " (or a resume that overrides " + key + ")"
                                                                     : std::string()),
                                key + " " + value.dump(), "trainer.config");
  }
}

// The trainer's own section of a checkpoint: where the run was (epoch, and the progress of
// an epoch it stopped in), its wall time and its earlier configuration changes.
template <class T>
typename trainer<T>::saved_progress trainer<T>::read_trainer_section(const checkpoint_reader<T>& r) const {
  saved_progress p;
  p.epoch = r.template get<std::uint64_t>("trainer", "epoch");
  const nlohmann::json& saved = r.section("trainer");
  if (saved.contains("in_epoch")) {
    const nlohmann::json& x = saved["in_epoch"];
    const bool ok = x.is_object() && x.contains("batches") && x["batches"].is_number_unsigned() &&
                    x.contains("seen") && x["seen"].is_number_unsigned() && x.contains("wrong") &&
                    x["wrong"].is_number_unsigned() && x.contains("loss") && x["loss"].is_number() &&
                    x["batches"].template get<std::size_t>() >= 1 &&
                    x["batches"].template get<std::size_t>() <= steps_per_epoch();
    if (!ok)
      r.fail("trainer.in_epoch",
             "the progress of an epoch: batches (1 to " + std::to_string(steps_per_epoch()) +
                 "), seen, wrong and loss",
             x.dump());
    p.in_epoch = epoch_progress{x["batches"].template get<std::size_t>(), x["seen"].template get<std::size_t>(),
                                x["wrong"].template get<std::size_t>(), x["loss"].template get<double>(), {}};
  }
  if (saved.contains("seconds") && saved["seconds"].is_number()) p.seconds = saved["seconds"].template get<double>();
  if (saved.contains("changes") && saved["changes"].is_array()) p.changes = saved["changes"];
  if (saved.contains("epochs") && saved["epochs"].is_number_unsigned()) p.epochs = saved["epochs"];
  return p;
}

template <class T>
void trainer<T>::resume(const std::filesystem::path& dir) {
  namespace ck = detail::ckpt;
  const nlohmann::json now = config();
  const std::map<std::string, nlohmann::json> changing = changing_overrides(dir, now);
  const bool rebuild = changing.count("momentum") || changing.count("weight_decay");
  if (rebuild) {  // load into an SGD with the saved values, then carry its state over
    trainer_options as_saved = opt_;
    if (changing.count("momentum")) as_saved.sgd.momentum = changing.at("momentum").template get<double>();
    if (changing.count("weight_decay")) as_saved.sgd.weight_decay = changing.at("weight_decay").template get<double>();
    make_optimizer(as_saved);
  }

  saved_progress saved;
  std::vector<ck::part<T>> parts = state_parts();
  // The configuration check comes before the parts that would name a missing section.
  parts.insert(parts.begin() + 1, ck::part<T>{{}, [&](const checkpoint_reader<T>& r) {
    const nlohmann::json& section = r.section("trainer");
    if (section.contains("config") && section["config"].is_object())
      check_saved_config(r, section["config"], now, changing);
    saved_progress p = read_trainer_section(r);
    if (r.applying()) saved = std::move(p);
  }});
  for (run_observer<T>* o : observers_)
    parts.push_back({{}, [o](const checkpoint_reader<T>& r) { o->load_state(r); }});
  try {
    ck::load<T>(dir, net_->signature(), parts);
  } catch (...) {
    if (rebuild) make_optimizer(opt_);  // as constructed: a failed resume changes nothing
    throw;
  }
  if (rebuild) {  // the loaded SGD's state, in one with this run's momentum and weight decay
    std::unique_ptr<rhonet::optimizer<T>> loaded = std::move(optim_);
    auto& from = static_cast<sgd<T>&>(*loaded);
    make_optimizer(opt_);
    auto& to = static_cast<sgd<T>&>(*optim_);
    for (std::size_t i = 0; i < from.buffers().size(); ++i) to.buffers()[i] = from.buffers()[i];
    to.set_step_count(from.step_count());
    to.set_lr(from.lr());
  }
  epoch_ = resumed_from_ = saved.epoch;
  seconds_before_ = saved.seconds;
  start_ = std::chrono::steady_clock::now();
  last_checkpoint_ = dir;
  resumed_ = true;
  resume_in_epoch_ = saved.in_epoch;
  changes_ = saved.changes;
  const std::size_t at = steps();
  if (changing.count("lr")) optim_->set_lr(now["lr"].template get<double>());
  for (const auto& [field, old] : changing)
    changes_.push_back({{"field", field}, {"old", old}, {"new", now[field]}, {"epoch", epoch_}, {"step", at}});
  if (saved.epochs && saved.epochs->template get<std::size_t>() != opt_.epochs)
    changes_.push_back(
        {{"field", "epochs"}, {"old", *saved.epochs}, {"new", opt_.epochs}, {"epoch", epoch_}, {"step", at}});
}

template <class T>
std::optional<double> trainer<T>::plateau_metric(const epoch_report& r) const {
  const std::string& m = opt_.plateau_metric;
  if (m == "epoch_loss") return r.loss;
  if (m == "epoch_error") return r.error;
  if (history_.empty() || history_.back().epoch != double(r.epoch)) return std::nullopt;  // not observed
  for (const observation_column& c : observation_columns())
    if (m == c.name) return c.get(history_.back());
  return std::nullopt;
}

template <class T>
void trainer<T>::observe(double epoch, bool broadcast) {
  observation o;
  o.epoch = epoch;
  o.iter = steps();
  o.lr = optim_->lr();
  bool measured = false;
  for (run_observer<T>* ob : observers_) measured = ob->measure(*this, o) || measured;
  if (!measured) return;
  o.seconds = seconds();
  if (broadcast)
    for (run_observer<T>* ob : observers_) ob->on_observe(*this, o);
  history_.push_back(std::move(o));
}

template <class T>
void trainer<T>::run() {
  std::optional<subnormal_flush> flush;
  if (opt_.flush_subnormals) flush.emplace();
  history_.clear();
  start_ = std::chrono::steady_clock::now();
  const std::size_t first_epoch = epoch_ + 1;
  run_outcome outcome;
  try {
    for (run_observer<T>* o : observers_) o->on_begin(*this);
    if (epoch_ == 0 && !resume_in_epoch_) observe(0);
    std::size_t next_early = 1;  // the next early observation: the first power of 2 after steps()
    while (next_early <= steps()) next_early *= 2;
    for (std::size_t epoch = first_epoch; epoch <= opt_.epochs; ++epoch) train_epoch(epoch, next_early);
    // A resumed run that was already complete: its final state, without a new log row.
    if (first_epoch > opt_.epochs) observe(double(epoch_), false);
    outcome.finished = true;
  } catch (const training_diverged& e) {
    const training_diverged full(e.epoch(), e.step(), e.where(), e.reason(), last_checkpoint_);
    outcome.diverged = true;
    outcome.error = full.what();
    outcome.diverged_at = {{"epoch", e.epoch()}, {"step", e.step()}, {"where", e.where()}};
    for (run_observer<T>* o : observers_) o->on_end(*this, outcome);
    throw full;
  } catch (const training_interrupted& e) {
    std::string failed;
    try {
      for (run_observer<T>* o : observers_) o->on_stop(*this);
    } catch (const std::exception& x) {
      failed = std::string("; saving the state at the interruption failed: ") + x.what();
    }
    const training_interrupted full(e.epoch(), e.step(), last_checkpoint_);
    outcome.interrupted = true;
    outcome.error = full.what() + failed;
    for (run_observer<T>* o : observers_) o->on_end(*this, outcome);
    throw full;
  } catch (const std::exception& e) {
    outcome.error = e.what();
    for (run_observer<T>* o : observers_) o->on_end(*this, outcome);
    throw;
  }
  for (run_observer<T>* o : observers_) o->on_end(*this, outcome);
}

template <class T>
void trainer<T>::train_epoch(std::size_t epoch, std::size_t& next_early) {
  if (opt_.schedule) optim_->set_lr(opt_.schedule->lr_at(epoch - 1));
  cur_ = {};
  cur_.batcher_at_start = batches_.state();
  if (resume_in_epoch_) {  // a checkpoint of the middle of this epoch: skip what it did
    const epoch_progress done = *resume_in_epoch_;
    resume_in_epoch_.reset();
    for (std::size_t b = 0; b < done.batches; ++b)
      if (batches_.next(xb_, yb_) == 0)
        throw std::logic_error("rhonet::trainer: the resumed epoch has fewer batches than its checkpoint says");
    cur_.batches = done.batches, cur_.seen = done.seen, cur_.wrong = done.wrong, cur_.loss = done.loss;
  }
  while (std::size_t n = batches_.next(xb_, yb_)) train_step(epoch, n, next_early);
  epoch_ = epoch;
  const double denom = double(std::max<std::size_t>(cur_.seen, 1));
  const epoch_report er{epoch, cur_.loss / denom, double(cur_.wrong) / denom, cur_.seen};
  cur_ = {};
  for (run_observer<T>* o : observers_) o->on_epoch(*this, er);
  if (opt_.observe_epochs.empty() || opt_.observe_epochs.count(epoch)) observe(double(epoch));
  // After the observation (a metric may come from it), before the checkpoint (which then
  // holds the lr of the next epoch).
  if (plateau_)
    if (const std::optional<double> v = plateau_metric(er)) optim_->set_lr(plateau_->step(*v, optim_->lr()));
  for (run_observer<T>* o : observers_) o->on_checkpoint(*this, epoch);
}

template <class T>
void trainer<T>::train_step(std::size_t epoch, std::size_t n, std::size_t& next_early) {
  step_report<T> r{epoch, steps() + 1, n, 0.0, 0, xb_, yb_};
  for (run_observer<T>* o : observers_) o->on_batch(*this, r);
  const process_group* g = opt_.group;
  const row_slice mine = g ? slice_of(n, g->rank(), g->size()) : row_slice{0, n};
  if (g) {
    copy_rows(xb_, mine, xs_);
    copy_rows(yb_, mine, ys_);
  }
  const matrix<T>& xin = g ? xs_ : xb_;
  const matrix<T>& yin = g ? ys_ : yb_;
  const matrix<T>& out = net_->forward(xin, mode::train);
  T l = loss_and_grad(opt_.loss, out, yin, grad_);
  std::size_t w = misclassified(out, yin);
  if (g) {
    // The batch's loss and errors, and whether any process is asked to stop (all must
    // stop at the same step, or the others would wait in the next sum forever).
    const bool mean = loss_reduction(opt_.loss) == reduction::mean;
    if (mean) scale_loss_gradient(grad_, mine.rows(), n);
    const bool stop = opt_.stop && opt_.stop->load(std::memory_order_relaxed);
    double sums[3] = {double(l) * (mean ? double(mine.rows()) : 1.0), double(w), stop ? 1.0 : 0.0};
    g->sum(std::span<double>(sums, 3));
    l = T(mean ? sums[0] / double(n) : sums[0]);
    w = std::size_t(sums[1]);
    stop_everywhere_ = sums[2] > 0;
  }
  r.loss = double(l);
  r.wrong = w;
  r.out = &out;  // with a group: this process's slice
  if (opt_.update_in_backward) {
    net_->backward_and_step(grad_, *optim_);
    for (run_observer<T>* o : observers_) o->on_backward(*this, r);
  } else {
    net_->backward(grad_);
    if (g) sum_gradients(params_, *g, flat_);
    for (run_observer<T>* o : observers_) o->on_backward(*this, r);
    optim_->step();
  }
  for (run_observer<T>* o : observers_) o->on_step(*this, r);
  cur_.loss += double(l) * double(n);
  cur_.wrong += w;
  cur_.seen += n;
  ++cur_.batches;
  const std::size_t per_epoch = steps_per_epoch();
  if (opt_.observe_early_steps && epoch == 1 && steps() == next_early && steps() < per_epoch) {
    observe(double(steps()) / double(per_epoch));
    next_early *= 2;
  }
  // After the step's bookkeeping, so that a checkpoint of this moment holds all of it.
  if (opt_.group ? stop_everywhere_ : opt_.stop && opt_.stop->load(std::memory_order_relaxed))
    throw training_interrupted(epoch, r.step, last_checkpoint_);
}

}  // namespace rhonet
