// paper_observables: at every observation, the quantities of the theory on the whole training
// set and the test set (observe/observation.hpp): losses and errors with the trained loss,
// rho in its three forms and the layer norms, margins, rho_eq, neural collapse and the
// Lemma 1 residual. Binary and multi-class (docs/observables.md).
#pragma once

#include <rhonet/observe/observation.hpp>
#include <rhonet/train/trainer.hpp>

namespace rhonet {

template <class T>
class paper_observables final : public run_observer<T> {
 public:
  // Keeps a reference to the test set: it must outlive the observer.
  explicit paper_observables(const dataset<T>& test) : test_(&test) {}
  paper_observables(const dataset<T>&&) = delete;

  bool measure(trainer<T>& t, observation& o) override {
    // A data-parallel run's processes share the evaluation's forward passes.
    buf_.train.set_process_group(t.options().group);
    buf_.test.set_process_group(t.options().group);
    observation m = rhonet::observe(t.net(), t.train_set(), *test_, t.lambda(), buf_, t.options().loss);
    m.epoch = o.epoch;
    m.iter = o.iter;
    m.lr = o.lr;
    o = std::move(m);
    return true;
  }

 private:
  const dataset<T>* test_;
  observer_buffers<T> buf_;
};

}  // namespace rhonet
