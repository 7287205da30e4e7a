// progress: one line per epoch on stderr: epoch, training loss and error (train mode, over the
// epoch's batches), rho, samples per second and the time left at the rate so far.
#pragma once

#include <algorithm>
#include <cstdio>

#include <rhonet/train/trainer.hpp>

namespace rhonet {

template <class T>
class progress final : public run_observer<T> {
 public:
  void on_begin(trainer<T>& t) override {
    first_epoch_ = t.epochs_done() + 1;
    seconds_at_begin_ = t.seconds();
    samples_ = 0;
  }
  void on_epoch(trainer<T>& t, const epoch_report& r) override {
    samples_ += r.samples;
    const double elapsed = std::max(t.seconds() - seconds_at_begin_, 1e-9);
    const double done = double(r.epoch - first_epoch_ + 1);
    const double eta = elapsed / done * double(t.options().epochs - r.epoch);
    std::fprintf(stderr, "  epoch %zu/%zu  loss %.4g  error %.4f  rho %.4g  %.0f samples/s  ETA %.0f s\n", r.epoch,
                 t.options().epochs, r.loss, r.error, t.net().rho(), double(samples_) / elapsed, eta);
  }

 private:
  std::size_t first_epoch_ = 1, samples_ = 0;
  double seconds_at_begin_ = 0;
};

}  // namespace rhonet
