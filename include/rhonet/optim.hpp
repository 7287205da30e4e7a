// Stochastic gradient descent, the same update as PyTorch's torch.optim.SGD with
// dampening 0, so runs can be compared with the paper group's PyTorch code step by step.
// Per parameter w with gradient g, at step t = 1, 2, ...:
//   d   = g + lambda w                     (lambda = weight_decay, only for decayed roles)
//   if mu != 0:
//     buf = d                (t = 1)
//     buf = mu buf + d       (t > 1)
//     d   = nesterov ? d + mu buf : buf
//   w  -= lr d
// Weight decay is coupled (added to the gradient, not AdamW-style): adding lambda w to the
// gradient is the gradient of the penalty (lambda / 2) ||w||^2, so the paper's
// L + lambda sum_k ||W_k||_F^2 (square loss with reduction::sum) is weight_decay = 2 lambda.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <rhonet/core/parameter.hpp>
#include <rhonet/core/tensor.hpp>

namespace rhonet {

// Roles decayed by default: every weight-like tensor and the BN scale gamma, but not the
// BN shift beta nor the bias of dense / conv2d (decaying a shift has no norm interpretation
// in the theory; PyTorch users get the same by excluding biases from their decay group).
inline std::set<param_role> default_decay_roles() {
  return {param_role::weight, param_role::wn_scale, param_role::wn_direction,
          param_role::bn_scale};
}

struct sgd_options {
  double lr = 0.01;
  double momentum = 0.0;      // mu; 0 disables the buffers' use
  double weight_decay = 0.0;  // lambda, applied to parameters whose role is in decay_roles
  bool nesterov = false;      // requires momentum > 0 (as in PyTorch)
  std::set<param_role> decay_roles = default_decay_roles();
};

template <class T>
class sgd {
 public:
  using value_type = T;
  // Buffers are allocated here, one per parameter (same shape as its value), and never
  // again: step() allocates nothing. The parameters must outlive the optimizer.
  explicit sgd(std::vector<parameter<T>*> params, sgd_options opt = {})
      : params_(std::move(params)), opt_(std::move(opt)) {
    if (!(opt_.lr >= 0.0)) throw std::invalid_argument("rhonet::sgd: lr must be >= 0, got " + std::to_string(opt_.lr));
    if (!(opt_.momentum >= 0.0))
      throw std::invalid_argument("rhonet::sgd: momentum must be >= 0, got " + std::to_string(opt_.momentum));
    if (!(opt_.weight_decay >= 0.0))
      throw std::invalid_argument("rhonet::sgd: weight_decay must be >= 0, got " +
                                  std::to_string(opt_.weight_decay));
    if (opt_.nesterov && opt_.momentum <= 0.0)
      throw std::invalid_argument("rhonet::sgd: nesterov requires momentum > 0");
    std::set<const parameter<T>*> seen;
    buffers_.reserve(params_.size());
    decays_.reserve(params_.size());
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const parameter<T>* p = params_[i];
      if (p == nullptr) throw std::invalid_argument("rhonet::sgd: parameter " + std::to_string(i) + " is null");
      if (!seen.insert(p).second)
        throw std::invalid_argument("rhonet::sgd: parameter '" + p->name + "' appears twice");
      check_param(i);
      buffers_.push_back(matrix<T>::from_shape({p->value.shape()[0], p->value.shape()[1]}));
      buffers_.back().fill(T(0));
      decays_.push_back(opt_.decay_roles.count(p->role) != 0);
    }
  }

  // One update of every parameter from its current grad (see the formula at the top).
  void step() {
    const T lr = T(opt_.lr), mu = T(opt_.momentum), wd = T(opt_.weight_decay);
    const bool first = steps_ == 0;
    for (std::size_t i = 0; i < params_.size(); ++i) {
      check_param(i);
      parameter<T>& p = *params_[i];
      T* w = p.value.data();
      const T* g = p.grad.data();
      T* b = buffers_[i].data();
      const std::size_t n = p.value.size();
      const bool decay = decays_[i] && wd != T(0);
      const bool momentum = mu != T(0);
      // Dispatch to loops with the flags fixed at compile time, so that each is branch-free
      // and vectorises at -O2 as well.
      if (!momentum) {
        decay ? update<true, false, false, false>(w, g, b, n, lr, mu, wd)
              : update<false, false, false, false>(w, g, b, n, lr, mu, wd);
      } else if (first) {
        if (opt_.nesterov)
          decay ? update<true, true, true, true>(w, g, b, n, lr, mu, wd)
                : update<false, true, true, true>(w, g, b, n, lr, mu, wd);
        else
          decay ? update<true, true, true, false>(w, g, b, n, lr, mu, wd)
                : update<false, true, true, false>(w, g, b, n, lr, mu, wd);
      } else {
        if (opt_.nesterov)
          decay ? update<true, true, false, true>(w, g, b, n, lr, mu, wd)
                : update<false, true, false, true>(w, g, b, n, lr, mu, wd);
        else
          decay ? update<true, true, false, false>(w, g, b, n, lr, mu, wd)
                : update<false, true, false, false>(w, g, b, n, lr, mu, wd);
      }
    }
    ++steps_;
  }

  // Sets every gradient to zero (PyTorch's set_to_none has no analogue here).
  void zero_grad() {
    for (parameter<T>* p : params_) p->grad.fill(T(0));
  }

  void set_lr(double lr) {
    if (!(lr >= 0.0)) throw std::invalid_argument("rhonet::sgd: lr must be >= 0, got " + std::to_string(lr));
    opt_.lr = lr;
  }
  double lr() const { return opt_.lr; }
  const sgd_options& options() const { return opt_; }
  const std::vector<parameter<T>*>& parameters() const { return params_; }
  // Whether parameter i (in the order given to the constructor) is weight-decayed.
  bool decays(std::size_t i) const { return decays_.at(i) && opt_.weight_decay != 0.0; }

  // Momentum buffers, one per parameter in constructor order, for checkpoints. Their
  // contents mean something only once buffers_initialised(); a restore writes them
  // element-wise (shapes must stay) and then calls set_step_count.
  std::span<matrix<T>> buffers() { return buffers_; }
  std::span<const matrix<T>> buffers() const { return buffers_; }
  bool buffers_initialised() const { return steps_ > 0 && opt_.momentum != 0.0; }
  // Number of step() calls so far; 0 means the next step initialises the buffers (buf = d).
  std::size_t step_count() const { return steps_; }
  void set_step_count(std::size_t n) { steps_ = n; }

  // The optimizer's part of a checkpoint (io/checkpoint.hpp): its hyperparameters, step count
  // and one momentum tensor per parameter. Loading restores lr and the step count; momentum,
  // weight decay and nesterov must match this optimizer's (std::invalid_argument otherwise).
  // Reader and Writer are the checkpoint's (a template, so this header needs no JSON).
  template <class Writer>
  void save_state(Writer& w) const {
    w.put("optimizer", "type", std::string("sgd"));
    w.put("optimizer", "step_count", std::uint64_t(steps_));
    w.put("optimizer", "buffers_initialised", buffers_initialised());
    w.put("optimizer", "lr", opt_.lr);
    w.put("optimizer", "momentum", opt_.momentum);
    w.put("optimizer", "weight_decay", opt_.weight_decay);
    w.put("optimizer", "nesterov", opt_.nesterov);
    for (std::size_t i = 0; i < params_.size(); ++i)
      w.tensor("momentum", params_[i]->name, "momentum", params_[i]->shape, buffers_[i].data(), buffers_[i].size());
  }
  template <class Reader>
  void load_state(const Reader& r) {
    if (!r.has_section("optimizer"))
      r.fail("optimizer", "optimizer state (an optimizer was given to load_checkpoint)",
             "none (saved without an optimizer)");
    const std::string type = r.template get<std::string>("optimizer", "type");
    if (type != "sgd") r.fail("optimizer", "optimizer type \"sgd\"", "\"" + type + "\"");
    const std::size_t steps = r.template get<std::uint64_t>("optimizer", "step_count");
    const double lr = r.template get<double>("optimizer", "lr");
    if (!(lr >= 0)) r.fail("optimizer", "a learning rate >= 0", std::to_string(lr));
    const double mu = r.template get<double>("optimizer", "momentum");
    const double wd = r.template get<double>("optimizer", "weight_decay");
    const bool nest = r.template get<bool>("optimizer", "nesterov");
    if (opt_.momentum != mu || opt_.weight_decay != wd || opt_.nesterov != nest)
      throw std::invalid_argument(
          "rhonet::load_checkpoint: " + r.manifest() + ": the optimizer has momentum " + std::to_string(opt_.momentum) +
          ", weight_decay " + std::to_string(opt_.weight_decay) + ", nesterov " + (opt_.nesterov ? "true" : "false") +
          " but the checkpoint was saved with momentum " + std::to_string(mu) + ", weight_decay " +
          std::to_string(wd) + ", nesterov " + (nest ? "true" : "false"));
    for (std::size_t i = 0; i < params_.size(); ++i)
      r.tensor("momentum", params_[i]->name, params_[i]->shape, buffers_[i].data(), buffers_[i].size());
    if (!r.applying()) return;
    opt_.lr = lr;
    steps_ = steps;
  }

 private:
  void check_param(std::size_t i) const {
    const parameter<T>& p = *params_[i];
    const bool buf_ok = i >= buffers_.size() || buffers_[i].shape() == p.value.shape();
    if (p.grad.shape() != p.value.shape() || !buf_ok)
      throw std::invalid_argument("rhonet::sgd: parameter '" + p.name + "' has value " +
                                  shape_str(p.value) + ", grad " + shape_str(p.grad) +
                                  (i < buffers_.size() ? ", buffer " + shape_str(buffers_[i]) : std::string()));
  }
  // The update rule of the header comment for one parameter's n contiguous entries.
  template <bool Decay, bool Momentum, bool First, bool Nesterov>
  static void update(T* __restrict w, const T* __restrict g, T* __restrict b, std::size_t n, T lr, T mu,
                     T wd) {
    for (std::size_t k = 0; k < n; ++k) {
      T d = g[k];
      if constexpr (Decay) d += wd * w[k];
      if constexpr (Momentum) {
        if constexpr (First) b[k] = d;
        else b[k] = mu * b[k] + d;
        if constexpr (Nesterov) d += mu * b[k];
        else d = b[k];
      }
      w[k] -= lr * d;
    }
  }

  static std::string shape_str(const matrix<T>& m) {
    return "(" + std::to_string(m.shape()[0]) + ", " + std::to_string(m.shape()[1]) + ")";
  }

  std::vector<parameter<T>*> params_;
  sgd_options opt_;
  std::vector<matrix<T>> buffers_;
  std::vector<bool> decays_;
  std::size_t steps_ = 0;
};

// Learning rate as a function of the (0-based) epoch. Use as
//   opt.set_lr(schedule.lr_at(epoch));   at the start of each epoch.
//   constant: lr
//   step    : lr * gamma^floor(epoch / every)                     (PyTorch StepLR)
//   cosine  : lr_min + (lr - lr_min) (1 + cos(pi e / T)) / 2,  e = min(epoch, T)
//             (PyTorch CosineAnnealingLR's closed form, held at lr_min after T epochs
//             instead of rising again)
class lr_schedule {
 public:
  enum class kind { constant, step, cosine };

  lr_schedule() = default;  // constant 0.01, the sgd_options default

  static lr_schedule constant(double lr) {
    check_lr(lr);
    lr_schedule s;
    s.kind_ = kind::constant;
    s.lr_ = lr;
    return s;
  }
  static lr_schedule step(double lr, std::size_t every, double gamma) {
    check_lr(lr);
    if (every == 0) throw std::invalid_argument("rhonet::lr_schedule::step: every must be > 0");
    if (!(gamma > 0.0)) throw std::invalid_argument("rhonet::lr_schedule::step: gamma must be > 0");
    lr_schedule s;
    s.kind_ = kind::step;
    s.lr_ = lr;
    s.every_ = every;
    s.gamma_ = gamma;
    return s;
  }
  static lr_schedule cosine(double lr, double lr_min, std::size_t epochs) {
    check_lr(lr);
    check_lr(lr_min);
    if (epochs == 0) throw std::invalid_argument("rhonet::lr_schedule::cosine: epochs must be > 0");
    lr_schedule s;
    s.kind_ = kind::cosine;
    s.lr_ = lr;
    s.lr_min_ = lr_min;
    s.epochs_ = epochs;
    return s;
  }

  double lr_at(std::size_t epoch) const {
    switch (kind_) {
      case kind::constant: return lr_;
      case kind::step: return lr_ * std::pow(gamma_, double(epoch / every_));
      case kind::cosine: {
        const double e = double(epoch < epochs_ ? epoch : epochs_);
        return lr_min_ + (lr_ - lr_min_) * (1.0 + std::cos(std::numbers::pi * e / double(epochs_))) / 2.0;
      }
    }
    return lr_;
  }

  kind type() const { return kind_; }
  double base_lr() const { return lr_; }

 private:
  static void check_lr(double lr) {
    if (!(lr >= 0.0)) throw std::invalid_argument("rhonet::lr_schedule: lr must be >= 0, got " + std::to_string(lr));
  }

  kind kind_ = kind::constant;
  double lr_ = 0.01;
  double lr_min_ = 0.0;
  double gamma_ = 1.0;
  std::size_t every_ = 1;
  std::size_t epochs_ = 1;
};

}  // namespace rhonet
