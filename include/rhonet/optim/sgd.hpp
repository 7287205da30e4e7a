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

#include <cstddef>
#include <cstdint>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <rhonet/core/dispatch.hpp>
#include <rhonet/core/parallel.hpp>
#include <rhonet/core/parameter.hpp>
#include <rhonet/core/tensor.hpp>
#include <rhonet/optim/optimizer.hpp>

namespace rhonet {

struct sgd_options {
  double lr = 0.01;
  double momentum = 0.0;      // mu; 0 disables the buffers' use
  double weight_decay = 0.0;  // lambda, applied to parameters whose role is in decay_roles
  bool nesterov = false;      // requires momentum > 0 (as in PyTorch)
  std::set<param_role> decay_roles = default_decay_roles();
  bool operator==(const sgd_options&) const = default;
};

template <class T>
class sgd final : public optimizer<T> {
 public:
  using value_type = T;
  // Buffers are allocated here, one per parameter (same shape as its value), and never
  // again: step() allocates nothing. The parameters must outlive the optimizer.
  explicit sgd(std::vector<parameter<T>*> params, sgd_options opt = {})
      : optimizer<T>(std::move(params), "rhonet::sgd"), opt_(std::move(opt)) {
    if (!(opt_.lr >= 0.0)) throw std::invalid_argument("rhonet::sgd: lr must be >= 0, got " + std::to_string(opt_.lr));
    if (!(opt_.momentum >= 0.0))
      throw std::invalid_argument("rhonet::sgd: momentum must be >= 0, got " + std::to_string(opt_.momentum));
    if (!(opt_.weight_decay >= 0.0))
      throw std::invalid_argument("rhonet::sgd: weight_decay must be >= 0, got " +
                                  std::to_string(opt_.weight_decay));
    if (opt_.nesterov && opt_.momentum <= 0.0)
      throw std::invalid_argument("rhonet::sgd: nesterov requires momentum > 0");
    buffers_.reserve(params_.size());
    decays_.reserve(params_.size());
    for (std::size_t i = 0; i < params_.size(); ++i) {
      this->check_shapes(i, "rhonet::sgd", {});
      buffers_.push_back(this->zeros_like(i));
      decays_.push_back(opt_.decay_roles.count(params_[i]->role) != 0);
    }
  }

  // The step's scalars; update(i) per parameter; end_step counts the step (optimizer.hpp).
  void begin_step() override {
    lr_ = T(opt_.lr), mu_ = T(opt_.momentum), wd_ = T(opt_.weight_decay);
    first_ = steps_ == 0;
  }
  // Parameter i's update (the formula at the top).
  void update(std::size_t i) override {
    this->check_shapes(i, "rhonet::sgd", {&buffers_[i], 1});
    parameter<T>& p = *params_[i];
    T* w = p.value.data();
    const T* g = p.grad.data();
    T* b = buffers_[i].data();
    const std::size_t n = p.value.size();
    const T lr = lr_, mu = mu_, wd = wd_;
    const bool decay = decays_[i] && wd != T(0);
    const bool momentum = mu != T(0);
    const bool first = first_;
    // Entries are independent: the threads of rhonet::threads() take contiguous parts.
    detail::parallel_for(n, detail::parallel_grain, [&](std::size_t from, std::size_t to) {
      update_range(w + from, g + from, b + from, to - from, lr, mu, wd, decay, momentum, first);
    });
  }

  // The update of n contiguous entries. Dispatched to loops with the flags fixed at compile
  // time, so that each is branch-free and vectorises at -O2 as well, on the CPU's widest
  // vectors (core/dispatch.hpp).
  void update_range(T* w, const T* g, T* b, std::size_t n, T lr, T mu, T wd, bool decay, bool momentum,
                    bool first) const {
    detail::dispatch([&]() RHONET_KERNEL {
      if (!momentum) {
        decay ? update_entries<true, false, false, false>(w, g, b, n, lr, mu, wd)
              : update_entries<false, false, false, false>(w, g, b, n, lr, mu, wd);
      } else if (first) {
        if (opt_.nesterov)
          decay ? update_entries<true, true, true, true>(w, g, b, n, lr, mu, wd)
                : update_entries<false, true, true, true>(w, g, b, n, lr, mu, wd);
        else
          decay ? update_entries<true, true, true, false>(w, g, b, n, lr, mu, wd)
                : update_entries<false, true, true, false>(w, g, b, n, lr, mu, wd);
      } else {
        if (opt_.nesterov)
          decay ? update_entries<true, true, false, true>(w, g, b, n, lr, mu, wd)
                : update_entries<false, true, false, true>(w, g, b, n, lr, mu, wd);
        else
          decay ? update_entries<true, true, false, false>(w, g, b, n, lr, mu, wd)
                : update_entries<false, true, false, false>(w, g, b, n, lr, mu, wd);
      }
    });
  }
  void end_step() override { ++steps_; }

  void set_lr(double lr) override {
    if (!(lr >= 0.0)) throw std::invalid_argument("rhonet::sgd: lr must be >= 0, got " + std::to_string(lr));
    opt_.lr = lr;
  }
  double lr() const override { return opt_.lr; }
  const char* type() const override { return "sgd"; }
  const sgd_options& options() const { return opt_; }
  // Whether parameter i (in the order given to the constructor) is weight-decayed.
  bool decays(std::size_t i) const { return decays_.at(i) && opt_.weight_decay != 0.0; }

  // Momentum buffers, one per parameter in constructor order, for checkpoints. Their
  // contents mean something only once buffers_initialised(); a restore writes them
  // element-wise (shapes must stay) and then calls set_step_count.
  std::span<matrix<T>> buffers() { return buffers_; }
  std::span<const matrix<T>> buffers() const override { return buffers_; }
  std::span<const matrix<T>> state() const override { return buffers_; }
  bool buffers_initialised() const { return steps_ > 0 && opt_.momentum != 0.0; }
  // Number of step() calls so far; 0 means the next step initialises the buffers (buf = d).
  std::size_t step_count() const override { return steps_; }
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
  using optimizer<T>::params_;

  // The update rule of the header comment for one parameter's n contiguous entries.
  template <bool Decay, bool Momentum, bool First, bool Nesterov>
  RHONET_KERNEL static void update_entries(T* __restrict w, const T* __restrict g, T* __restrict b, std::size_t n,
                                   T lr, T mu, T wd) {
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

  sgd_options opt_;
  T lr_{}, mu_{}, wd_{};  // the step's scalars (begin_step)
  bool first_ = false;    // the step initialises the momentum buffers
  std::vector<matrix<T>> buffers_;
  std::vector<bool> decays_;
  std::size_t steps_ = 0;
};

}  // namespace rhonet
