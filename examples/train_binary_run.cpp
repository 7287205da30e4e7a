// The training side of `train_binary` (train_binary_run.hpp).
#include "train_binary_run.hpp"

#include <cstdio>
#include <optional>

#include <rhonet/architectures.hpp>
#include <rhonet/core/blas_kernels.hpp>
#include <rhonet/core/threads.hpp>
#include <rhonet/data/binary_task.hpp>
#include <rhonet/data/preprocess.hpp>
#include <rhonet/init.hpp>
#include <rhonet/train.hpp>

namespace train_binary {

struct prepared {
  rhonet::dataset<float> train, test;
};

std::shared_ptr<const prepared> load_data(const train_binary_cli::options& o) {
  using namespace rhonet;
  auto sets = load_fashion_mnist_splits<float>();
  std::optional<std::size_t> lt, ls;
  if (o.limit_train) lt = o.limit_train;
  if (o.limit_test) ls = o.limit_test;
  auto p = std::make_shared<prepared>();
  p->train = make_binary_task(sets.train, int(o.class_a), int(o.class_b), 1, lt);
  p->test = make_binary_task(sets.test, int(o.class_a), int(o.class_b), 1, ls);
  standardise_per_channel(p->train, p->test);
  for (auto* d : {&p->train, &p->test}) {
    scale_to_unit_norm(*d);
    append_bias(*d);
  }
  return p;
}

std::size_t train_samples(const prepared& p) { return p.train.size(); }
std::size_t test_samples(const prepared& p) { return p.test.size(); }

outcome run_training(const train_binary_cli::options& o, const prepared& p, const std::atomic<bool>* stop) {
  using namespace rhonet;
  using net_t = arch::fc4_bn<785>;
  auto net = std::make_unique<net_t>();
  init_frobenius(net->parameters(), o.init, /*seed=*/1);

  train_options opt;
  opt.epochs = o.epochs;
  opt.sgd = {.lr = o.lr, .momentum = 0.9, .weight_decay = o.wd};
  for (const cli::override_value& v : o.overrides) {  // --override: the new value, recorded on resume
    if (v.key == "lr") opt.sgd.lr = v.value;
    if (v.key == "momentum") opt.sgd.momentum = v.value;
    if (v.key == "wd") opt.sgd.weight_decay = v.value;
    if (v.key == "epochs") opt.epochs = std::size_t(v.value);
    else opt.overrides.insert(cli::override_field(v.key));
  }
  opt.out_dir = o.out;
  opt.checkpoint_dir = o.checkpoint_dir;
  opt.checkpoint_every = o.checkpoint_every;
  opt.keep_checkpoints = o.keep_checkpoints;
  opt.resume = o.resume;
  opt.stop = stop;
  if (o.threads > 0) set_threads(int(o.threads));
  const auto blas = blas_kernels_status();  // the kernel set the run's numbers come from
  opt.meta["blas"] = {{"openblas_corename", blas.running}, {"openblas_config", blas.config},
                      {"best_coretype", blas.best}, {"threads", rhonet::threads()}};
  // train() says which checkpoint it resumes from (and which damaged ones it skipped).
  if (o.resume) recover_checkpoints(opt.checkpoint_dir);
  if (o.resume && !latest_checkpoint(opt.checkpoint_dir))
    std::printf("no checkpoint in %s yet: starting from the beginning\n", opt.checkpoint_dir.c_str());
  train_result r;
  try {
    r = train(*net, p.train, p.test, opt);
  } catch (const training_diverged& e) {
    throw diverged(e.what());
  } catch (const training_interrupted& e) {
    throw interrupted(e.what());
  }
  const auto& f = r.history.back();
  return {r.seconds, f.train_error, f.test_error, f.rho, f.rho_eq};
}

}  // namespace train_binary
