// Adam, the same update as PyTorch's torch.optim.Adam (amsgrad and maximize off). Per
// parameter w with gradient g, m = v = 0 at the start, at step t = 1, 2, ...:
//   g  = g + lambda w                  (lambda = weight_decay, only for decayed roles: L2,
//                                       coupled to the gradient as in SGD)
//   m  = beta1 m + (1 - beta1) g
//   v  = beta2 v + (1 - beta2) g^2
//   w -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// i.e. w -= lr mhat / (sqrt(vhat) + eps) with the bias-corrected mhat, vhat; eps is added
// outside the square root. AdamW (adamw.hpp) shares this code: the same step without the L2
// term, after the decoupled decay w -= lr lambda w.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <rhonet/core/parameter.hpp>
#include <rhonet/core/tensor.hpp>
#include <rhonet/optim/optimizer.hpp>

namespace rhonet {

struct adam_options {
  double lr = 1e-3;
  std::array<double, 2> betas{0.9, 0.999};  // decay of the first and second moments
  double eps = 1e-8;                        // added to sqrt(vhat)
  double weight_decay = 0.0;                // L2, added to the gradient of decayed roles
  std::set<param_role> decay_roles = default_decay_roles();
  bool operator==(const adam_options&) const = default;
};

namespace detail {

// Adam (Decoupled = false) and AdamW (true). Hyperparameters are kept as adam_options.
template <class T, bool Decoupled>
class adam_family : public optimizer<T> {
 public:
  using value_type = T;

  // The step's coefficients; update(i) per parameter (optimizer.hpp).
  void begin_step() override {
    for (std::size_t i = 0; i < params_.size(); ++i) check(i);
    ++steps_;
    const double t = double(steps_), b1 = opt_.betas[0], b2 = opt_.betas[1];
    // The scalars as PyTorch forms them: in double, then applied in T.
    c_ = {T(b1), T(1.0 - b1), T(b2), T(1.0 - b2), T(opt_.eps), T(opt_.weight_decay),
          T(opt_.lr / (1.0 - std::pow(b1, t))), T(std::sqrt(1.0 - std::pow(b2, t))),
          T(1.0 - opt_.lr * opt_.weight_decay)};
  }
  void update(std::size_t i) override {
    const std::size_t n = params_.size();
    parameter<T>& p = *params_[i];
    const bool decay = decays_[i] && opt_.weight_decay != 0.0;
    (decay ? update_entries<true> : update_entries<false>)(p.value.data(), p.grad.data(), state_[i].data(),
                                                           state_[n + i].data(), p.value.size(), c_);
  }
  void end_step() override {}

  void set_lr(double lr) override {
    if (!(lr >= 0.0)) throw std::invalid_argument(who() + ": lr must be >= 0, got " + std::to_string(lr));
    opt_.lr = lr;
  }
  double lr() const override { return opt_.lr; }
  const char* type() const override { return Decoupled ? "adamw" : "adam"; }
  std::size_t step_count() const override { return steps_; }
  // Whether parameter i (in the order given to the constructor) is weight-decayed.
  bool decays(std::size_t i) const { return decays_.at(i) && opt_.weight_decay != 0.0; }

  // First moments m (PyTorch's exp_avg), one per parameter; second moments v (exp_avg_sq).
  std::span<const matrix<T>> buffers() const override { return {state_.data(), params_.size()}; }
  std::span<const matrix<T>> exp_avg() const { return buffers(); }
  std::span<const matrix<T>> exp_avg_sq() const { return {state_.data() + params_.size(), params_.size()}; }
  std::span<const matrix<T>> state() const override { return state_; }

  // The optimiser's part of a checkpoint (io/checkpoint.hpp): hyperparameters, step count and
  // both moments of every parameter. Loading restores lr and the step count; betas, eps and
  // weight_decay must match this optimiser's (std::invalid_argument otherwise).
  template <class Writer>
  void save_state(Writer& w) const {
    w.put("optimizer", "type", std::string(type()));
    w.put("optimizer", "step_count", std::uint64_t(steps_));
    w.put("optimizer", "lr", opt_.lr);
    w.put("optimizer", "beta1", opt_.betas[0]);
    w.put("optimizer", "beta2", opt_.betas[1]);
    w.put("optimizer", "eps", opt_.eps);
    w.put("optimizer", "weight_decay", opt_.weight_decay);
    const std::size_t n = params_.size();
    for (std::size_t i = 0; i < n; ++i) {
      const parameter<T>& p = *params_[i];
      w.tensor("exp_avg", p.name, "exp_avg", p.shape, state_[i].data(), state_[i].size());
      w.tensor("exp_avg_sq", p.name, "exp_avg_sq", p.shape, state_[n + i].data(), state_[n + i].size());
    }
  }
  template <class Reader>
  void load_state(const Reader& r) {
    if (!r.has_section("optimizer"))
      r.fail("optimizer", "optimizer state (an optimizer was given to load_checkpoint)",
             "none (saved without an optimizer)");
    const std::string saved_type = r.template get<std::string>("optimizer", "type");
    if (saved_type != type())
      r.fail("optimizer", std::string("optimizer type \"") + type() + "\"", "\"" + saved_type + "\"");
    const std::size_t steps = r.template get<std::uint64_t>("optimizer", "step_count");
    const double lr = r.template get<double>("optimizer", "lr");
    if (!(lr >= 0)) r.fail("optimizer", "a learning rate >= 0", std::to_string(lr));
    const double b1 = r.template get<double>("optimizer", "beta1"), b2 = r.template get<double>("optimizer", "beta2");
    const double eps = r.template get<double>("optimizer", "eps");
    const double wd = r.template get<double>("optimizer", "weight_decay");
    if (opt_.betas[0] != b1 || opt_.betas[1] != b2 || opt_.eps != eps || opt_.weight_decay != wd)
      throw std::invalid_argument("rhonet::load_checkpoint: " + r.manifest() + ": the " + type() + " optimizer has " +
                                  describe(opt_.betas[0], opt_.betas[1], opt_.eps, opt_.weight_decay) +
                                  " but the checkpoint was saved with " + describe(b1, b2, eps, wd));
    const std::size_t n = params_.size();
    for (std::size_t i = 0; i < n; ++i) {
      const parameter<T>& p = *params_[i];
      r.tensor("exp_avg", p.name, p.shape, state_[i].data(), state_[i].size());
      r.tensor("exp_avg_sq", p.name, p.shape, state_[n + i].data(), state_[n + i].size());
    }
    if (!r.applying()) return;
    this->set_lr(lr);
    steps_ = steps;
  }

 protected:
  // Moments are allocated here, two per parameter, and never again: step() allocates nothing.
  // The parameters must outlive the optimiser.
  adam_family(std::vector<parameter<T>*> params, adam_options opt)
      : optimizer<T>(std::move(params), Decoupled ? "rhonet::adamw" : "rhonet::adam"), opt_(std::move(opt)) {
    auto bad = [&](const char* what, double v) {
      throw std::invalid_argument(who() + ": " + what + ", got " + std::to_string(v));
    };
    if (!(opt_.lr >= 0.0)) bad("lr must be >= 0", opt_.lr);
    if (!(opt_.eps >= 0.0)) bad("eps must be >= 0", opt_.eps);
    if (!(opt_.betas[0] >= 0.0 && opt_.betas[0] < 1.0)) bad("betas[0] must be in [0, 1)", opt_.betas[0]);
    if (!(opt_.betas[1] >= 0.0 && opt_.betas[1] < 1.0)) bad("betas[1] must be in [0, 1)", opt_.betas[1]);
    if (!(opt_.weight_decay >= 0.0)) bad("weight_decay must be >= 0", opt_.weight_decay);
    const std::size_t n = params_.size();
    state_.reserve(2 * n);
    for (std::size_t i = 0; i < 2 * n; ++i) state_.push_back(this->zeros_like(i % n));
    for (std::size_t i = 0; i < n; ++i) {
      decays_.push_back(opt_.decay_roles.count(params_[i]->role) != 0);
      check(i);
    }
  }
  const adam_options& adam_opts() const { return opt_; }

 private:
  using optimizer<T>::params_;

  std::string who() const { return Decoupled ? "rhonet::adamw" : "rhonet::adam"; }
  static std::string describe(double b1, double b2, double eps, double wd) {
    return "betas (" + std::to_string(b1) + ", " + std::to_string(b2) + "), eps " + std::to_string(eps) +
           ", weight_decay " + std::to_string(wd);
  }
  void check(std::size_t i) const {
    const std::size_t n = params_.size();
    const matrix<T>* m = &state_[i];
    const matrix<T>* v = &state_[n + i];
    const parameter<T>& p = *params_[i];
    if (p.grad.shape() != p.value.shape() || m->shape() != p.value.shape() || v->shape() != p.value.shape())
      throw std::invalid_argument(who() + ": parameter '" + p.name + "' has value " +
                                  optimizer<T>::shape_str(p.value) + ", grad " + optimizer<T>::shape_str(p.grad) +
                                  ", moments " + optimizer<T>::shape_str(*m));
  }
  struct coefficients {
    T b1, one_minus_b1, b2, one_minus_b2, eps, wd;
    T step_size;  // lr / (1 - beta1^t)
    T bc2_sqrt;   // sqrt(1 - beta2^t)
    T shrink;     // 1 - lr wd, AdamW's decoupled decay
  };
  // The update rule of the header comment for one parameter's n contiguous entries (Decay:
  // this parameter decays, in AdamW's form when Decoupled).
  template <bool Decay>
  static void update_entries(T* __restrict w, const T* __restrict g, T* __restrict m, T* __restrict v, std::size_t n,
                     const coefficients& c) {
    for (std::size_t k = 0; k < n; ++k) {
      T d = g[k];
      if constexpr (Decay && Decoupled) w[k] *= c.shrink;
      if constexpr (Decay && !Decoupled) d += c.wd * w[k];
      m[k] = c.b1 * m[k] + c.one_minus_b1 * d;
      v[k] = c.b2 * v[k] + c.one_minus_b2 * d * d;
      w[k] -= c.step_size * m[k] / (std::sqrt(v[k]) / c.bc2_sqrt + c.eps);
    }
  }

  adam_options opt_;
  coefficients c_{};              // the step's (begin_step)
  std::vector<matrix<T>> state_;  // m of every parameter, then v of every parameter
  std::vector<bool> decays_;
  std::size_t steps_ = 0;
};

}  // namespace detail

template <class T>
class adam final : public detail::adam_family<T, false> {
 public:
  explicit adam(std::vector<parameter<T>*> params, adam_options opt = {})
      : detail::adam_family<T, false>(std::move(params), std::move(opt)) {}
  const adam_options& options() const { return this->adam_opts(); }
};

}  // namespace rhonet
