// optimizer<T>: what every optimiser (sgd, adam, adamw) offers the code that drives it: a
// step from the current gradients, the learning rate, the step count and the per-parameter
// state. The trainer holds its optimiser through this interface; each concrete optimiser
// also saves and loads its own checkpoint part (save_state / load_state, templates on the
// checkpoint's writer and reader, so that this header needs no JSON).
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
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

template <class T>
class optimizer {
 public:
  using value_type = T;
  virtual ~optimizer() = default;

  // One update of every parameter from its current grad.
  void step() {
    begin_step();
    for (std::size_t i = 0; i < params_.size(); ++i) update(i);
    end_step();
  }
  // The same step in parts, so that a parameter can be updated as soon as its gradient is
  // ready (inside the backward pass, while its value and grad are still in cache; the
  // trainer's update_in_backward): begin_step(), then update(i) once for every parameter i in
  // any order, then end_step(). The result is bit-identical to step(): each parameter's update
  // reads only its own value, grad and state and the step's scalars.
  virtual void begin_step() = 0;
  virtual void update(std::size_t i) = 0;
  virtual void end_step() = 0;
  // The index of `p` in parameters(), or npos if the optimiser does not hold it.
  static constexpr std::size_t npos = std::size_t(-1);
  std::size_t index_of(const parameter<T>& p) const {
    const auto it = std::lower_bound(by_address_.begin(), by_address_.end(), &p,
                                     [](const auto& e, const parameter<T>* q) { return std::less<>{}(e.first, q); });
    return it == by_address_.end() || it->first != &p ? npos : it->second;
  }
  virtual double lr() const = 0;
  virtual void set_lr(double lr) = 0;
  // Number of step() calls so far (restored by a checkpoint).
  virtual std::size_t step_count() const = 0;
  // "sgd", "adam" or "adamw": the type a checkpoint records.
  virtual const char* type() const = 0;
  // One tensor per parameter (constructor order) that moves with the gradient: sgd's momentum
  // buffer, Adam's first moment.
  virtual std::span<const matrix<T>> buffers() const = 0;
  // Every state tensor of the optimiser (for finiteness checks): buffers() and, for Adam,
  // the second moments after them.
  virtual std::span<const matrix<T>> state() const = 0;

  const std::vector<parameter<T>*>& parameters() const { return params_; }
  // Sets every gradient to zero (PyTorch's set_to_none has no analogue here).
  void zero_grad() {
    for (parameter<T>* p : params_) p->grad.fill(T(0));
  }

 protected:
  // Checks the list: no null, no parameter twice, grad shaped like value. `who` names the
  // optimiser in messages ("rhonet::adam").
  optimizer(std::vector<parameter<T>*> params, const char* who) : params_(std::move(params)) {
    std::set<const parameter<T>*> seen;
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const parameter<T>* p = params_[i];
      if (p == nullptr) throw std::invalid_argument(std::string(who) + ": parameter " + std::to_string(i) + " is null");
      if (!seen.insert(p).second)
        throw std::invalid_argument(std::string(who) + ": parameter '" + p->name + "' appears twice");
      by_address_.emplace_back(p, i);
    }
    std::sort(by_address_.begin(), by_address_.end(),
              [](const auto& a, const auto& b) { return std::less<>{}(a.first, b.first); });
  }
  optimizer(const optimizer&) = default;
  optimizer& operator=(const optimizer&) = default;

  // value, grad and the optimiser's own state tensors of parameter i must share one shape
  // (a parameter reshaped behind the optimiser's back is an error, not a silent overrun).
  void check_shapes(std::size_t i, const char* who, std::span<const matrix<T>> own) const {
    const parameter<T>& p = *params_[i];
    bool ok = p.grad.shape() == p.value.shape();
    for (const matrix<T>& m : own) ok = ok && m.shape() == p.value.shape();
    if (!ok) shape_error(p, who, own);
  }
  // Out of line, so that step() carries only the check.
  [[noreturn, gnu::cold, gnu::noinline]] static void shape_error(const parameter<T>& p, const char* who,
                                                                  std::span<const matrix<T>> own) {
    std::string s = std::string(who) + ": parameter '" + p.name + "' has value " + shape_str(p.value) + ", grad " +
                    shape_str(p.grad);
    for (const matrix<T>& m : own) s += ", state " + shape_str(m);
    throw std::invalid_argument(s);
  }
  // Appended piece by piece: g++ 12 misreads "(" + std::to_string(...) here as an overflow
  // (-Wstringop-overflow) in some inlining contexts.
  static std::string shape_str(const matrix<T>& m) {
    std::string s = "(";
    s += std::to_string(m.shape()[0]);
    s += ", ";
    s += std::to_string(m.shape()[1]);
    return s += ")";
  }
  // A state tensor of parameter i's shape, zero.
  matrix<T> zeros_like(std::size_t i) const {
    matrix<T> m = matrix<T>::from_shape({params_[i]->value.shape()[0], params_[i]->value.shape()[1]});
    m.fill(T(0));
    return m;
  }

  std::vector<parameter<T>*> params_;

 private:
  std::vector<std::pair<const parameter<T>*, std::size_t>> by_address_;  // sorted: index_of
};

}  // namespace rhonet
