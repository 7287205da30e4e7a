// lr_schedule: the learning rate as a function of the epoch (constant, step, cosine).
#pragma once

#include <cmath>
#include <cstddef>
#include <numbers>
#include <stdexcept>
#include <string>

namespace rhonet {

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
