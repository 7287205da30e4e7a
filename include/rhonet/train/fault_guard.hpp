// fault_guard: stops a run with training_diverged in the step where a numerical fault appears:
// NaN or Inf in the input batch or its targets, the loss, a gradient or an updated weight, or
// a loss above the divergence bound; and, at the end of every epoch (before anything is
// recorded or saved), in the batch-norm running statistics or the optimiser's state. Each
// check is one pass without allocation; the message names the sample, layer or parameter
// (docs/reliability.md).
#pragma once

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <rhonet/core/finite.hpp>
#include <rhonet/train/trainer.hpp>

namespace rhonet {

namespace detail {
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
}  // namespace detail

template <class T>
class fault_guard final : public run_observer<T> {
 public:
  // A batch loss above `divergence_loss` (in the loss's own reduction) stops the run.
  explicit fault_guard(double divergence_loss = 1e8) : bound_(divergence_loss) {}

  void on_begin(trainer<T>& t) override { params_ = t.net().parameters(); }

  // Before the forward pass: the batch.
  void on_batch(trainer<T>& t, const step_report<T>& r) override {
    if (std::string bad = in_batch(r.x, t, "input"); !bad.empty())
      throw training_diverged(r.epoch, r.step, bad, "non-finite input data");
    if (std::string bad = in_batch(r.target, t, "target"); !bad.empty())
      throw training_diverged(r.epoch, r.step, bad, "non-finite target");
  }
  // Before the update: the loss and the gradients.
  void on_backward(trainer<T>& t, const step_report<T>& r) override {
    if (!std::isfinite(r.loss) || r.loss > bound_) {
      std::string where = t.net().non_finite_activation();
      throw training_diverged(r.epoch, r.step, where.empty() ? detail::largest_norm(params_) : where,
                              std::isfinite(r.loss) ? "loss " + detail::short_number(r.loss) + " above the bound " +
                                                          detail::short_number(bound_)
                                                    : std::string("loss is ") + non_finite_name(r.loss));
    }
    if (std::string bad = detail::non_finite_in(params_, true); !bad.empty())
      throw training_diverged(r.epoch, r.step, "gradient of " + bad, "non-finite gradient");
  }
  // After the update: the weights.
  void on_step(trainer<T>&, const step_report<T>& r) override {
    if (std::string bad = detail::non_finite_in(params_, false); !bad.empty())
      throw training_diverged(r.epoch, r.step, bad, "non-finite weight after the update");
  }

  // BN running statistics and the optimiser's state go into the checkpoint too: all finite,
  // or stop (at the end of every epoch, and before the checkpoint of a stop request).
  void on_epoch(trainer<T>& t, const epoch_report& r) override { check_state(t, r.epoch); }
  void on_stop(trainer<T>& t) override { check_state(t, t.epochs_done() + 1); }

 private:
  void check_state(trainer<T>& t, std::size_t epoch) {
    for (const state_buffer<T>* b : t.net().buffers())
      if (const std::size_t k = first_non_finite(b->value.data(), b->value.size()); k != b->value.size())
        throw training_diverged(epoch, t.steps(), b->name + ", entry " + std::to_string(k),
                                "non-finite running statistic");
    // Every state tensor, one per parameter in turn (sgd: momentum; Adam: both moments).
    const auto state = t.optimizer().state();
    for (std::size_t i = 0; i < state.size(); ++i) {
      const auto& m = state[i];
      if (const std::size_t k = first_non_finite(m.data(), m.size()); k != m.size()) {
        const std::string& name = params_[i % params_.size()]->name;
        throw training_diverged(epoch, t.steps(), "optimizer state of " + name + ", entry " + std::to_string(k),
                                "non-finite optimizer state");
      }
    }
  }

  // Rows of `m` (the batch) with NaN or Inf: "training sample 17 (row 3 of the batch),
  // column 5 is inf"; empty if all are finite.
  static std::string in_batch(const matrix<T>& m, const trainer<T>& t, const char* what) {
    const std::size_t k = first_non_finite(m.data(), m.size());
    if (k == m.size()) return {};
    const std::size_t cols = m.shape()[1], row = k / cols;
    return std::string(what) + " of training sample " + std::to_string(t.batches().indices()[row]) + " (row " +
           std::to_string(row) + " of the batch), column " + std::to_string(k % cols) + " is " +
           non_finite_name(m.data()[k]);
  }

  double bound_;
  std::vector<parameter<T>*> params_;
};

}  // namespace rhonet
