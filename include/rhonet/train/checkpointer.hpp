// checkpointer: after every `every`-th epoch (and the last), root/ckpt-<epoch> holds the
// state of every component (trainer::save_checkpoint), so that a resumed run continues
// bit-identically; the newest `keep` are kept (0: all). It saves at the checkpoint phase,
// after the epoch's observation has been recorded, and when the run is stopped on request
// (trainer_options::stop): root/ckpt-<epochs done> then holds the state after the step in
// progress, the epoch's batches done included, and replaces the one of the last complete
// epoch if that exists (docs/reliability.md).
#pragma once

#include <cstddef>
#include <filesystem>
#include <stdexcept>

#include <rhonet/io/checkpoint.hpp>
#include <rhonet/train/trainer.hpp>

namespace rhonet {

template <class T>
class checkpointer final : public run_observer<T> {
 public:
  checkpointer(std::filesystem::path root, std::size_t every = 1, std::size_t keep = 2)
      : root_(std::move(root)), every_(every), keep_(keep) {
    if (every_ == 0) throw std::invalid_argument("rhonet::checkpointer: every must be positive");
  }

  void on_checkpoint(trainer<T>& t, std::size_t epoch) override {
    if (epoch % every_ != 0 && epoch != t.options().epochs) return;
    save(t, epoch);
  }
  void on_stop(trainer<T>& t) override { save(t, t.epochs_done()); }

 private:
  void save(trainer<T>& t, std::size_t epoch) {
    const std::filesystem::path dir = checkpoint_path(root_, epoch);
    t.save_checkpoint(dir);
    if (keep_ > 0) {
      auto all = list_checkpoints(root_);
      for (std::size_t i = 0; i + keep_ < all.size(); ++i)
        if (all[i].second != dir) std::filesystem::remove_all(all[i].second);
    }
  }

  std::filesystem::path root_;
  std::size_t every_, keep_;
};

}  // namespace rhonet
