// The training loop: epochs of SGD over a shuffling batcher, observations of the paper's
// quantities on a schedule (docs/run-format.md), a progress line, and a clear stop on
// numerical faults.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <rhonet/data/batcher.hpp>
#include <rhonet/data/dataset.hpp>
#include <rhonet/io/durable_file.hpp>
#include <rhonet/loss.hpp>
#include <rhonet/observe.hpp>
#include <rhonet/optim.hpp>

namespace rhonet {

// NaN or Inf in the loss or the weights, or a loss beyond the divergence bound.
class training_diverged : public std::runtime_error {
 public:
  training_diverged(std::size_t epoch, std::size_t step, std::string where, std::string what)
      : std::runtime_error("training diverged at epoch " + std::to_string(epoch) + ", step " +
                           std::to_string(step) + ": " + what + " (" + where + ")"),
        epoch_(epoch), step_(step), where_(std::move(where)) {}
  std::size_t epoch() const { return epoch_; }
  std::size_t step() const { return step_; }
  const std::string& where() const { return where_; }

 private:
  std::size_t epoch_, step_;
  std::string where_;
};

struct train_options {
  std::size_t epochs = 10;
  std::size_t batch = 128;
  std::uint64_t seed = 1;          // shuffling
  sgd_options sgd{};               // lr, momentum, weight decay (PyTorch's semantics)
  lr_schedule schedule{};          // lr per epoch; constant sgd.lr when left default
  bool use_schedule = false;
  reduction loss_reduction = reduction::mean;
  bool drop_last = false;          // PyTorch's DataLoader default keeps the partial batch
  // Observations: epoch 0, the first iterations (1, 2, 4, ... < one epoch), then every
  // epoch when epochs <= every_epoch_up_to, else about log_points log-spaced epochs.
  std::size_t every_epoch_up_to = 60;
  std::size_t log_points = 60;
  double divergence_loss = 1e8;    // a batch loss above this (mean form) stops the run
  std::filesystem::path out_dir{}; // observations.csv, margins.csv, summary.json; empty: none
  nlohmann::json meta = nlohmann::json::object();  // copied into summary.json
  bool progress = true;
  std::function<void(std::size_t epoch)> on_epoch{};  // e.g. checkpointing
};

struct train_result {
  std::vector<observation> history;
  bool diverged = false;
  std::string error;
  double seconds = 0;
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
// The observation as {column: value}, from its CSV form (non-finite values become null).
inline nlohmann::json to_json(const observation& o) {
  nlohmann::json j = nlohmann::json::object();
  std::stringstream names(observation::csv_header(o.norms.size())), values(o.csv_row());
  for (std::string n, v; std::getline(names, n, ',') && std::getline(values, v, ',');) {
    const double d = std::strtod(v.c_str(), nullptr);
    j[n] = std::isfinite(d) ? nlohmann::json(d) : nlohmann::json(nullptr);
  }
  return j;
}

template <class T>
std::string first_non_finite(const std::vector<parameter<T>*>& ps) {
  for (const auto* p : ps)
    for (T v : p->value)
      if (!std::isfinite(v)) return p->name;
  return {};
}

}  // namespace detail

template <class Net, class T = typename Net::value_type>
train_result train(Net& net, const dataset<T>& train_set, const dataset<T>& test_set,
                   const train_options& opt) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  auto params = net.parameters();
  sgd<T> optimizer(params, opt.sgd);
  batcher<T> batches(train_set, {.batch_size = opt.batch, .seed = opt.seed, .shuffle = true,
                                 .drop_last = opt.drop_last});
  const square_loss loss{opt.loss_reduction};
  // lambda of the sum-form loss sum_n (g_n - y_n)^2 + lambda sum_k ||W_k||^2 that PyTorch-style
  // weight decay wd (penalty wd/2 ||w||^2) amounts to.
  const double lambda = opt.loss_reduction == reduction::mean
                            ? sum_form_lambda(opt.sgd.weight_decay, train_set.size())
                            : opt.sgd.weight_decay / 2;
  const std::size_t per_epoch = batches.batches_per_epoch();
  const auto epochs_to_observe = observation_epochs(opt.epochs, opt.every_epoch_up_to, opt.log_points);

  train_result result;
  observer_buffers<T> eval;
  std::ofstream obs_csv, margins_csv;
  if (!opt.out_dir.empty()) {
    std::filesystem::create_directories(opt.out_dir);
    obs_csv.open(opt.out_dir / "observations.csv", std::ios::trunc);
    margins_csv.open(opt.out_dir / "margins.csv", std::ios::trunc);
    obs_csv << observation::csv_header(Net::weight_layer_count) << "\n";
    margins_csv << observation::margins_csv_header() << "\n";
  }
  std::size_t step = 0;
  auto seconds = [&] { return std::chrono::duration<double>(clock::now() - start).count(); };
  auto record = [&](double epoch) {
    observation o = observe(net, train_set, test_set, lambda, eval);
    o.epoch = epoch;
    o.iter = step;
    o.lr = optimizer.lr();
    o.seconds = seconds();
    if (obs_csv.is_open()) {
      obs_csv << o.csv_row() << "\n" << std::flush;
      margins_csv << o.margins_csv_row() << "\n" << std::flush;
    }
    result.history.push_back(std::move(o));
  };
  auto write_summary = [&] {
    if (opt.out_dir.empty()) return;
    nlohmann::json s = opt.meta;
    s["diverged"] = result.diverged;
    s["error"] = result.error;
    s["seconds"] = seconds();
    std::vector<std::size_t> invariant, factoring;
    std::size_t k = 0;
    for (std::size_t i = 0; i < Net::layer_count; ++i) {
      if (!Net::homogeneity.has_weights[i]) continue;
      ++k;
      if (Net::homogeneity.scale_invariant(i)) invariant.push_back(k);
      if (Net::homogeneity.factors_out(i)) factoring.push_back(k);
    }
    s["scale_invariant_layers"] = invariant;
    s["factoring_layers"] = factoring;
    s["signature"] = Net::signature();
    if (!result.history.empty()) s["final"] = detail::to_json(result.history.back());
    write_file_atomically(opt.out_dir / "summary.json", s.dump(2) + "\n");
  };

  record(0);
  matrix<T> xb, yb, grad;
  std::size_t next_early = 1, total_seen = 0;  // observe after steps 1, 2, 4, ... during the first epoch
  try {
    for (std::size_t epoch = 1; epoch <= opt.epochs; ++epoch) {
      if (opt.use_schedule) optimizer.set_lr(opt.schedule.lr_at(epoch - 1));
      double epoch_loss = 0;
      std::size_t seen = 0, wrong = 0;
      while (std::size_t n = batches.next(xb, yb)) {
        const T l = loss_and_grad(loss, net.forward(xb, mode::train), yb, grad);
        if (!std::isfinite(l) || l > opt.divergence_loss) {
          std::string where = detail::first_non_finite(params);
          throw training_diverged(epoch, step, where.empty() ? "weights finite" : "first non-finite: " + where,
                                  std::isfinite(l) ? "loss " + std::to_string(l) + " above the bound"
                                                   : "loss is " + std::to_string(l));
        }
        wrong += misclassified(net.output(), yb);
        net.backward(grad);
        optimizer.step();
        ++step;
        total_seen += n;
        epoch_loss += double(l) * double(n);
        seen += n;
        if (epoch == 1 && step == next_early && step < per_epoch) {
          record(double(step) / double(per_epoch));
          next_early *= 2;
        }
      }
      if (const auto bad = detail::first_non_finite(params); !bad.empty())
        throw training_diverged(epoch, step, bad, "non-finite weight");
      if (epochs_to_observe.count(epoch)) record(double(epoch));
      if (opt.on_epoch) opt.on_epoch(epoch);
      if (opt.progress) {
        const double t = seconds();
        const double eta = t / double(epoch) * double(opt.epochs - epoch);
        const double n = double(std::max<std::size_t>(seen, 1));
        std::fprintf(stderr,
                     "  epoch %zu/%zu  loss %.4g  error %.4f  rho %.4g  %.0f samples/s  ETA %.0f s\n",
                     epoch, opt.epochs, epoch_loss / n, double(wrong) / n, double(net.rho()),
                     double(total_seen) / std::max(t, 1e-9), eta);
      }
    }
  } catch (const training_diverged& e) {
    result.diverged = true;
    result.error = e.what();
    result.seconds = seconds();
    write_summary();
    throw;
  }
  result.seconds = seconds();
  write_summary();
  return result;
}

}  // namespace rhonet
