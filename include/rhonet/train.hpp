// The training loop: epochs of SGD over a shuffling batcher, observations of the paper's
// quantities on a schedule (docs/run-format.md), a progress line, checkpoints and resume,
// and a clear stop on numerical faults (docs/reliability.md).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <rhonet/data/batcher.hpp>
#include <rhonet/data/dataset.hpp>
#include <rhonet/core/error.hpp>
#include <rhonet/core/finite.hpp>
#include <rhonet/io/checkpoint.hpp>
#include <rhonet/io/durable_file.hpp>
#include <rhonet/loss.hpp>
#include <rhonet/observe.hpp>
#include <rhonet/optim.hpp>

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
  std::function<void(std::size_t epoch)> on_epoch{};  // called after each epoch's checkpoint
  // Checkpoints (docs/reliability.md): after every checkpoint_every-th epoch (and the last),
  // checkpoint_dir/ckpt-<epoch> holds the net, the optimizer and the batcher, so that a
  // resumed run continues bit-identically. The newest keep_checkpoints are kept (0: all).
  // A folder that already holds checkpoints is used only with resume (never overwritten);
  // resume without any checkpoint there starts from the beginning.
  std::filesystem::path checkpoint_dir{};  // empty: no checkpoints
  std::size_t checkpoint_every = 1;
  std::size_t keep_checkpoints = 2;
  bool resume = false;
};

struct train_result {
  std::vector<observation> history;  // the observations made by this call (a resumed run's
                                     // earlier ones are in its CSV)
  bool diverged = false;
  std::string error;
  double seconds = 0;                // including the time before a resume
  std::size_t resumed_from_epoch = 0;         // 0: started from scratch
  std::filesystem::path last_checkpoint{};    // the newest checkpoint written or resumed from
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

// The first parameter (of `ps`) whose value, or grad, holds NaN or Inf, as
// "layer2.weight, entry 5 is nan"; empty if all are finite. Allocates only on a find.
template <class T>
std::string non_finite_in(const std::vector<parameter<T>*>& ps, bool grad) {
  for (const auto* p : ps) {
    const matrix<T>& m = grad ? p->grad : p->value;
    if (const std::size_t k = first_non_finite(m.data(), m.size()); k != m.size())
      return p->name + ", entry " + std::to_string(k) + " is " + non_finite_name(m.data()[k]);
  }
  return {};
}

// "layer 3 (dense<1>)": a layer's 1-based position (as in parameter names) and its spec.
template <class Net>
struct layer_labels {
  static std::string at(std::size_t position) { return "layer " + std::to_string(position); }
};
template <class T, input_spec In, class... S>
struct layer_labels<basic_network<T, In, S...>> {
  static std::string at(std::size_t position) {
    const std::string names[] = {spec_name<S>()...};
    return "layer " + std::to_string(position) + " (" + names[position - 1] + ")";
  }
  template <class L>
  static std::string spec_name() {
    if constexpr (requires { L::name(); }) return L::name();
    else return "?";
  }
};

inline std::string short_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// The parameter with the largest Frobenius norm, as "largest weight norm: layer10.weight
// (1.2e+05)": where an exploding but finite loss comes from.
template <class T>
std::string largest_norm(const std::vector<parameter<T>*>& ps) {
  std::string name;
  double best = -1;
  for (const auto* p : ps) {
    double sq = 0;
    for (T v : p->value) sq += double(v) * double(v);
    if (sq > best) best = sq, name = p->name;
  }
  return "largest weight norm: " + name + " (" + short_number(std::sqrt(best)) + ")";
}

// The first layer whose output of the last forward pass holds NaN or Inf, as "output of
// layer 3 (batch_norm<...>)"; empty if none.
template <class Net, std::size_t... I>
std::string non_finite_activation(const Net& net, std::index_sequence<I...>) {
  std::string found;
  auto check = [&]<std::size_t K>(std::integral_constant<std::size_t, K>) {
    const auto& a = net.template activation<K>();
    if (found.empty() && !all_finite(a.data(), a.size()))
      found = "output of " + layer_labels<Net>::at(K + 1);
  };
  (check(std::integral_constant<std::size_t, I>{}), ...);
  return found;
}

// Rows of `m` (a batch gathered by `b`) with NaN or Inf: "training sample 17 (row 3 of
// the batch), column 5 is inf"; empty if all are finite.
template <class T>
std::string non_finite_in_batch(const matrix<T>& m, const batcher<T>& b, const char* what) {
  const std::size_t k = first_non_finite(m.data(), m.size());
  if (k == m.size()) return {};
  const std::size_t cols = m.shape()[1], row = k / cols;
  return std::string(what) + " of training sample " + std::to_string(b.indices()[row]) + " (row " +
         std::to_string(row) + " of the batch), column " + std::to_string(k % cols) + " is " +
         non_finite_name(m.data()[k]);
}

// Keeps the header and the rows whose iter (second column) is at most `last_iter`: the rows a
// resumed run has already written. A killed run may have written more after its checkpoint,
// and its last line may be cut short (no newline): both are dropped.
inline void keep_csv_rows_up_to(const std::filesystem::path& file, std::size_t last_iter) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return;
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  std::string kept;
  for (std::size_t begin = 0, end; (end = text.find('\n', begin)) != std::string::npos; begin = end + 1) {
    const std::string_view line(text.data() + begin, end - begin);
    if (begin > 0) {
      const std::size_t comma = line.find(',');
      if (comma == std::string_view::npos ||
          std::strtoull(std::string(line.substr(comma + 1)).c_str(), nullptr, 10) > last_iter)
        continue;
    }
    kept.append(line).push_back('\n');
  }
  write_file_atomically(file, kept);
}

// A field of a trainer checkpoint's `extra`, or a data_error naming the manifest.
inline const nlohmann::json& extra_field(const nlohmann::json& extra, const char* key, bool is_string,
                                         const std::filesystem::path& ckpt) {
  const auto it = extra.find(key);
  if (it == extra.end() || (is_string ? !it->is_string() : !it->is_number_unsigned()))
    throw data_error((ckpt / checkpoint_manifest_name).string(), 0,
                     std::string("extra.") + key + (is_string ? " (a string)" : " (a non-negative integer)") +
                         " written by rhonet::train",
                     it == extra.end() ? "no such field" : it->dump());
  return *it;
}


// Where a resumed run continues: restores the net's tensors, the optimizer and the batcher's
// RNG from the checkpoint `latest`, after checking that it belongs to this run. Depends on the
// element type only, so every network of a program shares one instantiation.
struct resume_point {
  std::size_t epoch = 0, step = 0;
  double seconds = 0;
};
template <class T>
resume_point resume_from(const std::filesystem::path& latest, const std::string& signature,
                         const std::vector<parameter<T>*>& params, const std::vector<state_buffer<T>*>& bufs,
                         sgd<T>& optimizer, batcher<T>& batches, const train_options& opt,
                         std::size_t train_samples) {
  resume_point r;
  // The run's own fields first, so that a checkpoint of another run changes nothing.
  const nlohmann::json m = read_checkpoint_manifest(latest);
  const nlohmann::json extra = m.contains("extra") ? m["extra"] : nlohmann::json::object();
  const std::string manifest = (latest / checkpoint_manifest_name).string();
  auto must_match = [&](const char* key, std::size_t now) {
    const std::size_t saved = extra_field(extra, key, false, latest).template get<std::size_t>();
    if (saved != now)
      throw data_error(manifest, 0, std::string("a checkpoint of a run with ") + key + " " + std::to_string(now),
                       key + std::string(" ") + std::to_string(saved), "extra");
  };
  must_match("seed", opt.seed);
  must_match("batch", opt.batch);
  must_match("train_samples", train_samples);
  must_match("drop_last", std::size_t(opt.drop_last));
  r.epoch = extra_field(extra, "epoch", false, latest).template get<std::size_t>();
  r.step = extra_field(extra, "step", false, latest).template get<std::size_t>();
  try {
    batches.restore_state(extra_field(extra, "batcher", true, latest).template get<std::string>());
  } catch (const std::invalid_argument& e) {
    throw data_error(manifest, 0, "extra.batcher: a batcher state", e.what(), "extra");
  }
  detail::ckpt::load<T>(latest, signature, params, bufs, &optimizer);
  if (r.step != optimizer.step_count())
    throw data_error(manifest, 0, "extra.step equal to optimizer.step_count " + std::to_string(optimizer.step_count()),
                     std::to_string(r.step), "extra");
  if (extra.contains("seconds") && extra["seconds"].is_number()) r.seconds = extra["seconds"].template get<double>();
  return r;
}

}  // namespace detail

template <class Net, class T = typename Net::value_type>
train_result train(Net& net, const dataset<T>& train_set, const dataset<T>& test_set,
                   const train_options& opt) {
  using clock = std::chrono::steady_clock;
  namespace fs = std::filesystem;
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
  std::size_t step = 0, first_epoch = 1;
  double seconds_before = 0;  // wall time of the run before a resume

  // Resume: the newest complete checkpoint restores the net, the optimizer (momentum, lr,
  // step count) and the batcher's RNG, so the following epochs are those of an unbroken run.
  const bool checkpointing = !opt.checkpoint_dir.empty();
  if (checkpointing) {
    recover_checkpoints(opt.checkpoint_dir);
    if (const auto latest = latest_checkpoint(opt.checkpoint_dir)) {
      if (!opt.resume)
        throw std::invalid_argument("rhonet::train: " + opt.checkpoint_dir.string() +
                                    " already holds checkpoints (newest " + latest->filename().string() +
                                    "); resume to continue that run, or choose an empty folder");
      const auto r = detail::resume_from<T>(*latest, Net::signature(), net.parameters(), net.buffers(),
                                            optimizer, batches, opt, train_set.size());
      step = r.step;
      seconds_before = r.seconds;
      first_epoch = r.epoch + 1;
      result.resumed_from_epoch = r.epoch;
      result.last_checkpoint = *latest;
    }
  }

  observer_buffers<T> eval;
  std::ofstream obs_csv, margins_csv;
  if (!opt.out_dir.empty()) {
    fs::create_directories(opt.out_dir);
    const fs::path obs_file = opt.out_dir / "observations.csv", margins_file = opt.out_dir / "margins.csv";
    const bool append = result.resumed_from_epoch > 0 && fs::exists(obs_file) && fs::exists(margins_file);
    if (append) {
      detail::keep_csv_rows_up_to(obs_file, step);
      detail::keep_csv_rows_up_to(margins_file, step);
    }
    obs_csv.open(obs_file, append ? std::ios::app : std::ios::trunc);
    margins_csv.open(margins_file, append ? std::ios::app : std::ios::trunc);
    if (!append) {
      obs_csv << observation::csv_header(Net::weight_layer_count) << "\n";
      margins_csv << observation::margins_csv_header() << "\n";
    }
  }
  auto seconds = [&] { return seconds_before + std::chrono::duration<double>(clock::now() - start).count(); };
  auto record = [&](double epoch, bool to_csv) {
    observation o = observe(net, train_set, test_set, lambda, eval);
    o.epoch = epoch;
    o.iter = step;
    o.lr = optimizer.lr();
    o.seconds = seconds();
    if (to_csv && obs_csv.is_open()) {
      obs_csv << o.csv_row() << "\n" << std::flush;
      margins_csv << o.margins_csv_row() << "\n" << std::flush;
    }
    result.history.push_back(std::move(o));
  };
  nlohmann::json diverged_at = nullptr;
  auto write_summary = [&] {
    if (opt.out_dir.empty()) return;
    nlohmann::json s = opt.meta;
    s["diverged"] = result.diverged;
    s["diverged_at"] = diverged_at;
    s["error"] = result.error;
    s["seconds"] = seconds();
    s["resumed_from_epoch"] = result.resumed_from_epoch;
    s["last_checkpoint"] = result.last_checkpoint.empty() ? nlohmann::json(nullptr)
                                                          : nlohmann::json(result.last_checkpoint.string());
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
  auto save = [&](std::size_t epoch) {
    const fs::path dir = checkpoint_path(opt.checkpoint_dir, epoch);
    save_checkpoint(dir, net, &optimizer,
                    {{"epoch", epoch}, {"step", step}, {"batcher", batches.state()}, {"seed", opt.seed},
                     {"batch", opt.batch}, {"train_samples", train_set.size()},
                     {"drop_last", std::size_t(opt.drop_last)}, {"seconds", seconds()}});
    result.last_checkpoint = dir;
    if (opt.keep_checkpoints > 0) {
      auto all = list_checkpoints(opt.checkpoint_dir);
      for (std::size_t i = 0; i + opt.keep_checkpoints < all.size(); ++i)
        if (all[i].second != dir) fs::remove_all(all[i].second);
    }
  };

  if (first_epoch == 1) record(0, true);
  matrix<T> xb, yb, grad;
  std::size_t next_early = 1, total_seen = 0;  // observe after steps 1, 2, 4, ... during the first epoch
  std::size_t epoch = first_epoch;
  try {
    for (; epoch <= opt.epochs; ++epoch) {
      if (opt.use_schedule) optimizer.set_lr(opt.schedule.lr_at(epoch - 1));
      double epoch_loss = 0;
      std::size_t seen = 0, wrong = 0;
      // Every step checks its batch, loss, gradients and updated weights (one pass each, no
      // allocation), so a fault is reported in the step where it appears, by name.
      while (std::size_t n = batches.next(xb, yb)) {
        if (std::string bad = detail::non_finite_in_batch(xb, batches, "input"); !bad.empty())
          throw training_diverged(epoch, step + 1, bad, "non-finite input data");
        if (std::string bad = detail::non_finite_in_batch(yb, batches, "target"); !bad.empty())
          throw training_diverged(epoch, step + 1, bad, "non-finite target");
        const T l = loss_and_grad(loss, net.forward(xb, mode::train), yb, grad);
        if (!std::isfinite(l) || l > opt.divergence_loss) {
          std::string where = detail::non_finite_activation(net, std::make_index_sequence<Net::layer_count>{});
          throw training_diverged(epoch, step + 1, where.empty() ? detail::largest_norm(params) : where,
                                  std::isfinite(l) ? "loss " + detail::short_number(l) + " above the bound " +
                                                         detail::short_number(opt.divergence_loss)
                                                   : "loss is " + non_finite_name(l));
        }
        wrong += misclassified(net.output(), yb);
        net.backward(grad);
        if (std::string bad = detail::non_finite_in(params, true); !bad.empty())
          throw training_diverged(epoch, step + 1, "gradient of " + bad, "non-finite gradient");
        optimizer.step();
        ++step;
        if (std::string bad = detail::non_finite_in(params, false); !bad.empty())
          throw training_diverged(epoch, step, bad, "non-finite weight after the update");
        total_seen += n;
        epoch_loss += double(l) * double(n);
        seen += n;
        if (epoch == 1 && step == next_early && step < per_epoch) {
          record(double(step) / double(per_epoch), true);
          next_early *= 2;
        }
      }
      // BN running statistics and momentum go into the checkpoint too: all finite, or stop.
      for (const state_buffer<T>* b : net.buffers())
        if (const std::size_t k = first_non_finite(b->value.data(), b->value.size()); k != b->value.size())
          throw training_diverged(epoch, step, b->name + ", entry " + std::to_string(k),
                                  "non-finite running statistic");
      for (std::size_t i = 0; i < params.size(); ++i) {
        const auto& m = optimizer.buffers()[i];
        if (const std::size_t k = first_non_finite(m.data(), m.size()); k != m.size())
          throw training_diverged(epoch, step, "momentum of " + params[i]->name + ", entry " + std::to_string(k),
                                  "non-finite momentum");
      }
      if (epochs_to_observe.count(epoch)) record(double(epoch), true);
      if (checkpointing && opt.checkpoint_every > 0 && (epoch % opt.checkpoint_every == 0 || epoch == opt.epochs))
        save(epoch);
      if (opt.on_epoch) opt.on_epoch(epoch);
      if (opt.progress) {
        const double t = seconds();
        const double done = double(epoch - first_epoch + 1);
        const double eta = (t - seconds_before) / done * double(opt.epochs - epoch);
        const double n = double(std::max<std::size_t>(seen, 1));
        std::fprintf(stderr,
                     "  epoch %zu/%zu  loss %.4g  error %.4f  rho %.4g  %.0f samples/s  ETA %.0f s\n",
                     epoch, opt.epochs, epoch_loss / n, double(wrong) / n, double(net.rho()),
                     double(total_seen) / std::max(t - seconds_before, 1e-9), eta);
      }
    }
  } catch (const training_diverged& e) {
    result.diverged = true;
    diverged_at = {{"epoch", e.epoch()}, {"step", e.step()}, {"where", e.where()}};
    const training_diverged full(e.epoch(), e.step(), e.where(), e.reason(), result.last_checkpoint);
    result.error = full.what();
    result.seconds = seconds();
    write_summary();
    throw full;
  }
  // A resumed run that was already complete: report its final state without a new CSV row.
  if (result.history.empty()) record(double(std::min(opt.epochs, first_epoch - 1)), false);
  result.seconds = seconds();
  write_summary();
  return result;
}

}  // namespace rhonet
