// reduce_lr_on_plateau: lowers the learning rate when a metric stops improving, with the
// semantics of PyTorch's torch.optim.lr_scheduler.ReduceLROnPlateau. Feed it one value per
// epoch (after the epoch, like PyTorch's scheduler.step(metric)):
//   opt.set_lr(plateau.step(validation_loss, opt.lr()));
// Rule, per step(metric):
//   better = metric < best (1 - threshold)   mode min, rel     metric < best - threshold  min, abs
//            metric > best (1 + threshold)   mode max, rel     metric > best + threshold  max, abs
//   better ? (best = metric, bad = 0) : ++bad
//   in cooldown (cooldown_left > 0): --cooldown_left, bad = 0
//   bad > patience: lr = max(lr factor, min_lr) unless that lowers it by eps or less;
//                   cooldown_left = cooldown, bad = 0
// best starts at +inf (min) or -inf (max), so the first finite metric is always better; a NaN
// metric is never better (it counts as a bad epoch).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include <rhonet/optim/optimizer.hpp>

namespace rhonet {

enum class plateau_mode { min, max };    // lower is better (a loss) / higher is better (accuracy)
enum class plateau_threshold { rel, abs };  // improvement relative to best, or absolute

struct plateau_options {
  plateau_mode mode = plateau_mode::min;
  double factor = 0.1;        // lr *= factor on a plateau; in [0, 1)
  std::size_t patience = 10;  // bad epochs tolerated before reducing
  double threshold = 1e-4;    // what counts as an improvement (see threshold_mode)
  plateau_threshold threshold_mode = plateau_threshold::rel;
  std::size_t cooldown = 0;   // epochs after a reduction during which bad epochs are not counted
  double min_lr = 0.0;        // the lr never goes below this
  double eps = 1e-8;          // a reduction of eps or less is skipped
  bool operator==(const plateau_options&) const = default;
};

inline const char* to_string(plateau_mode m) { return m == plateau_mode::min ? "min" : "max"; }
inline const char* to_string(plateau_threshold t) { return t == plateau_threshold::rel ? "rel" : "abs"; }

class reduce_lr_on_plateau {
 public:
  explicit reduce_lr_on_plateau(plateau_options o = {}) : opt_(o), best_(worst()) {
    auto bad = [](const char* what, double v) {
      throw std::invalid_argument(std::string("rhonet::reduce_lr_on_plateau: ") + what + ", got " + std::to_string(v));
    };
    if (!(opt_.factor >= 0.0 && opt_.factor < 1.0)) bad("factor must be in [0, 1)", opt_.factor);
    if (!(opt_.threshold >= 0.0)) bad("threshold must be >= 0", opt_.threshold);
    if (!(opt_.min_lr >= 0.0)) bad("min_lr must be >= 0", opt_.min_lr);
    if (!(opt_.eps >= 0.0)) bad("eps must be >= 0", opt_.eps);
  }

  // One epoch's metric; returns the learning rate to use from now on, given the current one.
  double step(double metric, double lr) {
    ++epochs_;
    if (better(metric)) {
      best_ = metric;
      bad_ = 0;
    } else {
      ++bad_;
    }
    if (cooldown_left_ > 0) {
      --cooldown_left_;
      bad_ = 0;
    }
    if (bad_ > opt_.patience) {
      const double reduced = std::max(lr * opt_.factor, opt_.min_lr);
      if (lr - reduced > opt_.eps) lr = reduced;
      cooldown_left_ = opt_.cooldown;
      bad_ = 0;
    }
    return lr;
  }
  template <class T>
  void step(double metric, optimizer<T>& opt) {
    opt.set_lr(step(metric, opt.lr()));
  }

  const plateau_options& options() const { return opt_; }
  double best() const { return best_; }                   // +-inf before the first finite metric
  std::size_t bad_epochs() const { return bad_; }          // PyTorch's num_bad_epochs
  std::size_t cooldown_left() const { return cooldown_left_; }  // PyTorch's cooldown_counter
  std::size_t steps() const { return epochs_; }            // PyTorch's last_epoch

  // The scheduler's part of a checkpoint (io/checkpoint.hpp): its counters and best value.
  // Its options must match the saved ones (std::invalid_argument otherwise).
  template <class Writer>
  void save_state(Writer& w) const {
    w.put("plateau", "steps", std::uint64_t(epochs_));
    w.put("plateau", "bad_epochs", std::uint64_t(bad_));
    w.put("plateau", "cooldown_left", std::uint64_t(cooldown_left_));
    // JSON has no infinity: the initial best is stored as a string.
    if (std::isfinite(best_)) w.put("plateau", "best", best_);
    else w.put("plateau", "best", std::string(best_ > 0 ? "inf" : "-inf"));
    w.put("plateau", "mode", std::string(to_string(opt_.mode)));
    w.put("plateau", "factor", opt_.factor);
    w.put("plateau", "patience", std::uint64_t(opt_.patience));
    w.put("plateau", "threshold", opt_.threshold);
    w.put("plateau", "threshold_mode", std::string(to_string(opt_.threshold_mode)));
    w.put("plateau", "cooldown", std::uint64_t(opt_.cooldown));
    w.put("plateau", "min_lr", opt_.min_lr);
    w.put("plateau", "eps", opt_.eps);
  }
  template <class Reader>
  void load_state(const Reader& r) {
    if (!r.has_section("plateau"))
      r.fail("plateau", "the state of reduce_lr_on_plateau", "none (saved without that scheduler)");
    const std::size_t steps = r.template get<std::uint64_t>("plateau", "steps");
    const std::size_t bad = r.template get<std::uint64_t>("plateau", "bad_epochs");
    const std::size_t cool = r.template get<std::uint64_t>("plateau", "cooldown_left");
    double best = 0;
    if (r.section("plateau").contains("best") && r.section("plateau")["best"].is_string()) {
      const std::string b = r.template get<std::string>("plateau", "best");
      if (b != "inf" && b != "-inf") r.fail("plateau", "best as a number, \"inf\" or \"-inf\"", "\"" + b + "\"");
      best = b == "inf" ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
    } else {
      best = r.template get<double>("plateau", "best");
    }
    plateau_options saved;
    saved.mode = r.template get<std::string>("plateau", "mode") == "max" ? plateau_mode::max : plateau_mode::min;
    saved.factor = r.template get<double>("plateau", "factor");
    saved.patience = r.template get<std::uint64_t>("plateau", "patience");
    saved.threshold = r.template get<double>("plateau", "threshold");
    saved.threshold_mode =
        r.template get<std::string>("plateau", "threshold_mode") == "abs" ? plateau_threshold::abs : plateau_threshold::rel;
    saved.cooldown = r.template get<std::uint64_t>("plateau", "cooldown");
    saved.min_lr = r.template get<double>("plateau", "min_lr");
    saved.eps = r.template get<double>("plateau", "eps");
    if (!(saved == opt_))
      throw std::invalid_argument("rhonet::load_checkpoint: " + r.manifest() +
                                  ": reduce_lr_on_plateau has other options than the checkpoint's (" +
                                  describe(opt_) + " here, " + describe(saved) + " saved)");
    if (!r.applying()) return;
    epochs_ = steps;
    bad_ = bad;
    cooldown_left_ = cool;
    best_ = best;
  }

 private:
  double worst() const {
    const double inf = std::numeric_limits<double>::infinity();
    return opt_.mode == plateau_mode::min ? inf : -inf;
  }
  bool better(double a) const {
    const bool rel = opt_.threshold_mode == plateau_threshold::rel;
    if (opt_.mode == plateau_mode::min) return rel ? a < best_ * (1.0 - opt_.threshold) : a < best_ - opt_.threshold;
    return rel ? a > best_ * (1.0 + opt_.threshold) : a > best_ + opt_.threshold;
  }
  static std::string describe(const plateau_options& o) {
    return std::string("mode ") + to_string(o.mode) + ", factor " + std::to_string(o.factor) + ", patience " +
           std::to_string(o.patience) + ", threshold " + std::to_string(o.threshold) + " " +
           to_string(o.threshold_mode) + ", cooldown " + std::to_string(o.cooldown) + ", min_lr " +
           std::to_string(o.min_lr) + ", eps " + std::to_string(o.eps);
  }

  plateau_options opt_;
  double best_;
  std::size_t bad_ = 0, cooldown_left_ = 0, epochs_ = 0;
};

}  // namespace rhonet
