// Numerical faults and checkpoints through the trainer: NaN or Inf in the data, the loss, a
// gradient or a weight stops training in the step it appears in, naming epoch, step and
// layer, with the last good checkpoint kept; a diverging learning rate is one such fault.
// A stopped run resumes bit-identically (weights and CSV), and the same seed gives the same
// CSV. Run with one BLAS thread (OPENBLAS_NUM_THREADS=1, set by CMake; also set here).
#define BOOST_TEST_MODULE rhonet_reliability
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <rhonet/rhonet.hpp>
#include <rhonet/train.hpp>

#include "support/reliability_support.hpp"

using namespace rhonet;
using namespace rhonet_test;
namespace fs = std::filesystem;

extern "C" void openblas_set_num_threads(int);

namespace {

struct one_thread {
  one_thread() { openblas_set_num_threads(1); }
};
BOOST_TEST_GLOBAL_FIXTURE(one_thread);

using plain_net = network<input<17>, dense<8>, relu, dense<1>>;

train_options quiet_options(std::size_t epochs) {
  train_options opt;
  opt.epochs = epochs;
  opt.batch = 16;
  opt.seed = 5;
  opt.sgd = {.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-3};
  opt.progress = false;
  return opt;
}

// Runs f, which must throw training_diverged; returns it.
template <class F>
training_diverged expect_diverged(F&& f) {
  try {
    f();
  } catch (const training_diverged& e) {
    BOOST_TEST_MESSAGE("training_diverged: " << e.what());
    return e;
  }
  BOOST_FAIL("expected rhonet::training_diverged");
  throw std::logic_error("unreachable");
}

bool contains(const std::string& s, const std::string& part) {
  const bool ok = s.find(part) != std::string::npos;
  if (!ok) BOOST_TEST_MESSAGE("missing '" << part << "' in: " << s);
  return ok;
}

template <class Net>
void set_all(Net& net, std::size_t param, float v) {
  net.parameters().at(param)->value.fill(v);
}

using bn_net = network<input<17>, dense<16>, batch_norm<>, relu, dense<16>, batch_norm<>, relu, dense<1>>;

// The resume tests' setting: 100 training samples (batches of 16: a partial last batch), 40
// test samples, a BN net initialised at norm 1 (seed 9), run folders under one scratch dir.
struct resume_fixture {
  scratch dir;
  dataset<float> train_set = clouds(100, 6), test_set = clouds(40, 7);
  explicit resume_fixture(const std::string& name) : dir(name) {}

  std::unique_ptr<bn_net> fresh_net(double norm = 1.0, std::uint64_t seed = 9) const {
    auto net = std::make_unique<bn_net>();
    init_frobenius(net->parameters(), norm, seed);
    return net;
  }
  // Trains a net into run folder `name` without interruption; returns it.
  std::unique_ptr<bn_net> straight(train_options opt, const std::string& name = "straight") {
    auto net = fresh_net();
    opt.out_dir = dir.path / name;
    train(*net, train_set, test_set, opt);
    return net;
  }
  // Trains into "broken" with checkpoints in "broken-ckpt" and stops after the checkpoint of
  // epoch `at`, as if killed there; returns the options to resume with (resume on).
  train_options break_at_epoch(train_options opt, std::size_t at) {
    struct stop {};
    auto net = fresh_net();
    opt.out_dir = dir.path / "broken";
    opt.checkpoint_dir = dir.path / "broken-ckpt";
    opt.on_epoch = [at](std::size_t epoch) {
      if (epoch == at) throw stop{};
    };
    BOOST_CHECK_THROW(train(*net, train_set, test_set, opt), stop);
    opt.on_epoch = {};
    opt.resume = true;
    return opt;
  }
  // The CSV files of two run folders are the same (but for wall time).
  bool same_csv(const std::string& a, const std::string& b) const {
    return without_column(read_text(dir.path / a / "observations.csv"), "seconds") ==
               without_column(read_text(dir.path / b / "observations.csv"), "seconds") &&
           read_text(dir.path / a / "margins.csv") == read_text(dir.path / b / "margins.csv");
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(nan_in_input_is_caught_in_its_step) {
  auto train_set = clouds(64, 1);
  const auto test_set = clouds(16, 2);
  train_set.x(37, 4) = std::numeric_limits<float>::quiet_NaN();
  plain_net net;
  init_frobenius(net.parameters(), 1.0, 3);
  const auto e = expect_diverged([&] { train(net, train_set, test_set, quiet_options(3)); });
  BOOST_TEST(e.epoch() == 1u);
  BOOST_TEST(e.step() >= 1u);
  BOOST_TEST(e.step() <= 4u);  // 64 / 16 batches: within the first epoch, in the step with sample 37
  BOOST_TEST(contains(e.what(), "non-finite input data"));
  BOOST_TEST(contains(e.where(), "input of training sample 37"));
  BOOST_TEST(contains(e.where(), "column 4 is nan"));
  // Nothing was updated with the bad batch: the weights are still finite.
  BOOST_TEST(detail::non_finite_in(net.parameters(), false).empty());
}

BOOST_AUTO_TEST_CASE(inf_in_target_is_caught) {
  auto train_set = clouds(64, 1);
  const auto test_set = clouds(16, 2);
  train_set.target(50, 0) = -std::numeric_limits<float>::infinity();
  plain_net net;
  init_frobenius(net.parameters(), 1.0, 3);
  const auto e = expect_diverged([&] { train(net, train_set, test_set, quiet_options(3)); });
  BOOST_TEST(e.epoch() == 1u);
  BOOST_TEST(contains(e.what(), "non-finite target"));
  BOOST_TEST(contains(e.where(), "target of training sample 50"));
  BOOST_TEST(contains(e.where(), "is -inf"));
}

BOOST_AUTO_TEST_CASE(overflowing_forward_pass_names_the_layer) {
  const auto train_set = clouds(64, 1), test_set = clouds(16, 2);
  plain_net net;
  set_all(net, 0, 1e30f);  // finite weights whose product overflows in the last layer
  set_all(net, 1, 1e30f);
  const auto e = expect_diverged([&] { train(net, train_set, test_set, quiet_options(2)); });
  BOOST_TEST(e.epoch() == 1u);
  BOOST_TEST(e.step() == 1u);
  BOOST_TEST(contains(e.what(), "loss is inf"));
  BOOST_TEST(contains(e.where(), "output of layer 3 (dense<1>)"));
}

BOOST_AUTO_TEST_CASE(non_finite_gradient_names_the_parameter) {
  // x >= 0 (first column shifted), W1 = 1e22: hidden units about 1e22, W2 = 1e-6: outputs
  // about 1e16, a finite loss (1e32), but dL/dW2 = sum dY h, about 1e38 * batch: overflow.
  auto train_set = clouds(64, 1);
  for (std::size_t i = 0; i < train_set.size(); ++i)
    for (std::size_t j = 0; j < 17; ++j) train_set.x(i, j) = std::abs(train_set.x(i, j));
  const auto test_set = clouds(16, 2);
  plain_net net;
  set_all(net, 0, 1e22f);
  set_all(net, 1, 1e-6f);
  auto opt = quiet_options(2);
  opt.divergence_loss = std::numeric_limits<double>::infinity();  // let the finite loss pass
  const auto e = expect_diverged([&] { train(net, train_set, test_set, opt); });
  BOOST_TEST(e.step() == 1u);
  BOOST_TEST(contains(e.what(), "non-finite gradient"));
  BOOST_TEST(contains(e.where(), "gradient of layer3.weight"));
}

BOOST_AUTO_TEST_CASE(non_finite_weight_after_update_names_the_parameter) {
  auto train_set = clouds(64, 1);
  train_set.x *= 1000.f;  // gradient entries well above 1
  const auto test_set = clouds(16, 2);
  plain_net net;
  init_frobenius(net.parameters(), 1.0, 3);
  auto opt = quiet_options(2);
  opt.sgd.lr = 3e38;  // a finite lr times a gradient entry above ~1.2 overflows float
  opt.sgd.momentum = 0;
  const auto e = expect_diverged([&] { train(net, train_set, test_set, opt); });
  BOOST_TEST(e.epoch() == 1u);
  BOOST_TEST(e.step() == 1u);
  BOOST_TEST(contains(e.what(), "non-finite weight after the update"));
  BOOST_TEST(contains(e.where(), "layer"));
  BOOST_TEST(contains(e.where(), ".weight, entry "));
}

// The paper-style failure: a learning rate that makes the loss explode. Two good epochs at
// lr 0.05, then lr 10 (a step schedule): the fault is reported in epoch >= 3, and the last
// checkpoint on disk is the epoch before, finite and loadable.
BOOST_AUTO_TEST_CASE(diverging_learning_rate_keeps_the_last_good_checkpoint) {
  scratch dir("diverge");
  const auto train_set = clouds(128, 4), test_set = clouds(32, 5);
  plain_net net;
  init_frobenius(net.parameters(), 1.0, 3);
  auto opt = quiet_options(30);
  opt.use_schedule = true;
  opt.schedule = lr_schedule::step(0.05, 2, 200.0);  // 0.05, 0.05, then 10
  opt.checkpoint_dir = dir.path / "ckpt";
  opt.keep_checkpoints = 0;
  opt.out_dir = dir.path / "run";
  const auto e = expect_diverged([&] { train(net, train_set, test_set, opt); });
  BOOST_TEST(e.epoch() >= 3u);
  BOOST_TEST(contains(e.what(), "training diverged at epoch " + std::to_string(e.epoch()) + ", step "));
  const auto latest = latest_checkpoint(opt.checkpoint_dir);
  BOOST_TEST_REQUIRE(latest.has_value());
  BOOST_TEST(e.last_checkpoint() == *latest);
  BOOST_TEST(contains(e.what(), "the last good checkpoint is " + latest->string()));
  plain_net restored;
  load_checkpoint(*latest, restored);
  BOOST_TEST(read_checkpoint_manifest(*latest)["trainer"]["epoch"].get<std::size_t>() == e.epoch() - 1);
  BOOST_TEST(detail::non_finite_in(restored.parameters(), false).empty());
  std::ifstream sf(opt.out_dir / "summary.json");
  const auto summary = nlohmann::json::parse(sf);
  BOOST_TEST(summary["diverged"].get<bool>());
  BOOST_TEST(summary["diverged_at"]["epoch"].get<std::size_t>() == e.epoch());
  BOOST_TEST(summary["last_checkpoint"].get<std::string>() == latest->string());
}

// A run stopped after epoch 3 (as if killed after its checkpoint) and resumed gives the
// weights and CSV files of a run that was never stopped, bit for bit (seconds excepted).
BOOST_AUTO_TEST_CASE(resume_is_bit_identical_to_an_unbroken_run) {
  resume_fixture f("resume");
  const auto straight = f.straight(quiet_options(6));
  auto opt = f.break_at_epoch(quiet_options(6), 3);
  BOOST_TEST(list_checkpoints(opt.checkpoint_dir).size() == 2u);  // keep_checkpoints = 2: 2 and 3

  // Resume in a fresh network (differently initialised: everything must come from disk).
  auto resumed = f.fresh_net(3.0, 77);
  const auto r = train(*resumed, f.train_set, f.test_set, opt);
  BOOST_TEST(r.resumed_from_epoch == 3u);
  BOOST_TEST(r.history.size() == 3u);  // epochs 4, 5, 6
  BOOST_TEST((bytes_of(*resumed) == bytes_of(*straight)));
  BOOST_TEST(f.same_csv("broken", "straight"));
  BOOST_TEST(list_checkpoints(opt.checkpoint_dir).back().first == 6u);

  // Resuming a finished run trains nothing and reports the final state.
  auto again = std::make_unique<bn_net>();
  const auto done = train(*again, f.train_set, f.test_set, opt);
  BOOST_TEST(done.resumed_from_epoch == 6u);
  BOOST_TEST(done.history.size() == 1u);
  BOOST_TEST((bytes_of(*again) == bytes_of(*straight)));
  BOOST_TEST(read_text(f.dir.path / "broken" / "margins.csv") == read_text(f.dir.path / "straight" / "margins.csv"));
}

// The same with Adam and the plateau scheduler: both moments, the step count, the lr the
// scheduler lowered and its counters all come back from the checkpoint.
BOOST_AUTO_TEST_CASE(adam_with_plateau_resumes_bit_identically) {
  resume_fixture f("resume_adam");
  auto opt = quiet_options(6);
  opt.sgd = {};
  opt.adam = adam_options{.lr = 0.02, .betas = {0.85, 0.99}, .weight_decay = 1e-3};
  // Halves the lr unless the epoch's loss drops by a third: reductions before and after the break.
  opt.plateau = plateau_options{.factor = 0.5, .patience = 0, .threshold = 0.33};

  opt.out_dir = f.dir.path / "straight";
  auto straight = f.fresh_net();
  const auto s = train(*straight, f.train_set, f.test_set, opt);
  std::vector<double> lrs;
  for (const observation& o : s.history)
    if (o.epoch >= 1) lrs.push_back(o.lr);
  BOOST_TEST_REQUIRE(lrs.size() == 6u);
  BOOST_TEST(lrs[0] == 0.02);
  BOOST_TEST(lrs[3] < lrs[2]);  // the state that crosses the break matters
  BOOST_TEST(lrs[5] < lrs[3]);
  const auto summary = nlohmann::json::parse(read_text(opt.out_dir / "summary.json"));
  BOOST_TEST(summary["config"]["optimizer"] == "adam");
  BOOST_TEST((summary["config"]["betas"] == nlohmann::json::array({0.85, 0.99})));
  BOOST_TEST(summary["config"]["plateau"]["metric"] == "epoch_loss");

  opt = f.break_at_epoch(opt, 3);
  auto resumed = f.fresh_net(3.0, 77);
  const auto r = train(*resumed, f.train_set, f.test_set, opt);
  BOOST_TEST(r.resumed_from_epoch == 3u);
  BOOST_TEST((bytes_of(*resumed) == bytes_of(*straight)));
  BOOST_TEST(f.same_csv("broken", "straight"));

  // The checkpoint of an Adam run does not resume with other betas, nor with SGD.
  auto other = std::make_unique<bn_net>();
  opt.adam->betas = {0.9, 0.99};
  BOOST_CHECK_EXCEPTION(train(*other, f.train_set, f.test_set, opt), data_error, [](const data_error& e) {
    return contains(e.what(), "betas");
  });
  opt.adam.reset();
  opt.sgd = {.lr = 0.02};
  BOOST_CHECK_EXCEPTION(train(*other, f.train_set, f.test_set, opt), data_error, [](const data_error& e) {
    return contains(e.what(), "optimizer \"sgd\"") && contains(e.what(), "found optimizer \"adam\"");
  });
}

BOOST_AUTO_TEST_CASE(same_seed_gives_identical_csv) {
  scratch dir("determinism");
  const auto train_set = clouds(96, 8), test_set = clouds(32, 9);
  std::vector<std::string> obs, margins;
  for (int run = 0; run < 2; ++run) {
    network<input<17>, dense<16>, batch_norm<>, relu, dense<1>> net;
    init_frobenius(net.parameters(), 1.0, 4);
    auto opt = quiet_options(4);
    opt.out_dir = dir.path / ("run" + std::to_string(run));
    train(net, train_set, test_set, opt);
    obs.push_back(without_column(read_text(opt.out_dir / "observations.csv"), "seconds"));
    margins.push_back(read_text(opt.out_dir / "margins.csv"));
  }
  BOOST_TEST(obs[0].size() > 500u);
  BOOST_TEST(obs[0] == obs[1]);
  BOOST_TEST(margins[0] == margins[1]);
  // Control: another seed shuffles differently and the CSV differs.
  network<input<17>, dense<16>, batch_norm<>, relu, dense<1>> net;
  init_frobenius(net.parameters(), 1.0, 4);
  auto opt = quiet_options(4);
  opt.seed = 6;
  opt.out_dir = dir.path / "other";
  train(net, train_set, test_set, opt);
  BOOST_TEST(without_column(read_text(opt.out_dir / "observations.csv"), "seconds") != obs[0]);
}

BOOST_AUTO_TEST_CASE(checkpoints_of_another_run_are_never_overwritten) {
  scratch dir("foreign");
  const auto train_set = clouds(32, 1), test_set = clouds(16, 2);
  plain_net net;
  init_frobenius(net.parameters(), 1.0, 3);
  auto opt = quiet_options(2);
  opt.checkpoint_dir = dir.path / "ckpt";
  train(net, train_set, test_set, opt);
  const std::string before = read_text(opt.checkpoint_dir / "ckpt-2" / "manifest.json");
  BOOST_CHECK_EXCEPTION(train(net, train_set, test_set, opt), std::invalid_argument, [&](const auto& e) {
    return contains(e.what(), "already holds checkpoints (newest ckpt-2)") && contains(e.what(), "resume");
  });
  BOOST_TEST(read_text(opt.checkpoint_dir / "ckpt-2" / "manifest.json") == before);
  // A different batch size cannot continue that run.
  opt.resume = true;
  opt.batch = 8;
  BOOST_CHECK_EXCEPTION(train(net, train_set, test_set, opt), data_error, [&](const data_error& e) {
    return contains(e.what(), "ckpt-2/manifest.json") && contains(e.what(), "batch 8") &&
           contains(e.what(), "found batch 16");
  });
}

BOOST_AUTO_TEST_CASE(a_checkpoint_with_nan_is_rejected_untouched) {
  scratch dir("nanckpt");
  plain_net a;
  init_frobenius(a.parameters(), 1.0, 3);
  save_checkpoint(dir.path / "ckpt-1", a);
  // Poison one value of the second weight file (its data starts after the 128-byte header).
  const nlohmann::json m = nlohmann::json::parse(read_text(dir.path / "ckpt-1" / "manifest.json"));
  const std::string file = (dir.path / "ckpt-1" / m["tensors"][1]["file"].get<std::string>()).string();
  std::string bytes = read_text(file);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::size_t header = bytes.size() - 8 * sizeof(float);
  std::memcpy(bytes.data() + header + 5 * sizeof(float), &nan, sizeof nan);
  write_text(file, bytes);
  plain_net b;
  init_frobenius(b.parameters(), 1.0, 4);
  const auto before = bytes_of(b);
  BOOST_CHECK_EXCEPTION(load_checkpoint(dir.path / "ckpt-1", b), data_error, [&](const data_error& e) {
    return contains(e.what(), file) && contains(e.what(), "at byte offset " + std::to_string(header + 20)) &&
           contains(e.what(), "expected finite values") && contains(e.what(), "found nan at element 5");
  });
  BOOST_TEST((bytes_of(b) == before));
}

// Found while writing the checkpoint fuzzer: a negative lr in the manifest was rejected by
// sgd::set_lr only after the tensors had been overwritten.
BOOST_AUTO_TEST_CASE(a_bad_optimizer_lr_is_rejected_untouched) {
  scratch dir("lrckpt");
  plain_net a;
  init_frobenius(a.parameters(), 1.0, 3);
  sgd<float> opt_a(a.parameters(), {.lr = 0.1, .momentum = 0.9});
  save_checkpoint(dir.path / "ckpt-1", a, &opt_a);
  nlohmann::json m = nlohmann::json::parse(read_text(dir.path / "ckpt-1" / "manifest.json"));
  m["optimizer"]["lr"] = -1.0;
  write_text(dir.path / "ckpt-1" / "manifest.json", m.dump());
  plain_net b;
  init_frobenius(b.parameters(), 1.0, 4);
  sgd<float> opt_b(b.parameters(), {.lr = 0.1, .momentum = 0.9});
  const auto before = bytes_of(b);
  BOOST_CHECK_EXCEPTION(load_checkpoint(dir.path / "ckpt-1", b, &opt_b), data_error, [&](const data_error& e) {
    return contains(e.what(), "manifest.json: at byte offset 0 (optimizer): expected a learning rate >= 0");
  });
  BOOST_TEST((bytes_of(b) == before));
  BOOST_TEST(opt_b.lr() == 0.1);
}

BOOST_AUTO_TEST_CASE(batcher_state_round_trip) {
  const auto d = clouds(20, 3);
  batcher<float> a(d, {.batch_size = 6, .seed = 11});
  matrix<float> x, y;
  while (a.next(x, y)) {
  }
  const std::string s = a.state();
  BOOST_TEST(s.rfind("1 ", 0) == 0u);
  a.next(x, y);
  BOOST_CHECK_THROW(a.state(), std::logic_error);  // mid-epoch
  batcher<float> b(d, {.batch_size = 6, .seed = 99});
  b.restore_state(s);
  batcher<float> c(d, {.batch_size = 6, .seed = 11});
  while (c.next(x, y)) {
  }
  for (int epoch = 0; epoch < 2; ++epoch) {
    while (c.next(x, y)) {
      BOOST_TEST_REQUIRE(b.next(x, y) > 0u);
      BOOST_TEST((std::vector<std::size_t>(b.indices().begin(), b.indices().end()) ==
                  std::vector<std::size_t>(c.indices().begin(), c.indices().end())));
    }
    BOOST_TEST_REQUIRE(b.next(x, y) == 0u);  // the same epoch end
  }
  BOOST_CHECK_THROW(b.restore_state("3 not an rng"), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(finite_checks) {
  std::vector<float> v(10000, 1.f);
  BOOST_TEST(all_finite(v.data(), v.size()));
  BOOST_TEST(first_non_finite(v.data(), v.size()) == v.size());
  v[9000] = std::numeric_limits<float>::infinity();
  v[9500] = std::numeric_limits<float>::quiet_NaN();
  BOOST_TEST(!all_finite(v.data(), v.size()));
  BOOST_TEST(first_non_finite(v.data(), v.size()) == 9000u);
  BOOST_TEST(non_finite_name(v[9000]) == "inf");
  BOOST_TEST(non_finite_name(-v[9000]) == "-inf");
  BOOST_TEST(non_finite_name(v[9500]) == "nan");
  std::vector<double> d = {1.0, std::numeric_limits<double>::max(), -0.0, 4.9e-324};
  BOOST_TEST(all_finite(d.data(), d.size()));
  d[2] = -std::numeric_limits<double>::infinity();
  BOOST_TEST(first_non_finite(d.data(), d.size()) == 2u);
}

namespace {

// Trains with the observers train() adds (observations on every epoch, CSV, checkpoints every
// 2 epochs) through the trainer itself, stopping on request after step `stop_after` (0:
// never), as SIGINT does in the programs; resumes from the newest checkpoint if there is one.
void run_stoppable(bn_net& net, const resume_fixture& f, const std::string& name, std::size_t stop_after) {
  std::atomic<bool> stop{false};
  trainer_options to;
  to.epochs = 5;
  to.batch = 16;
  to.seed = 5;
  to.sgd = {.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-3};
  to.observe_epochs = observation_epochs(5, 60, 60);
  to.stop = &stop;
  struct stopper final : run_observer<float> {
    std::atomic<bool>* flag;
    std::size_t at;
    stopper(std::atomic<bool>* f, std::size_t a) : flag(f), at(a) {}
    void on_step(trainer<float>&, const step_report<float>& r) override {
      if (r.step == at) *flag = true;
    }
  };
  model_of<bn_net> m(net);
  trainer<float> t(m, f.train_set, to);
  t.add(std::make_unique<fault_guard<float>>());
  t.add(std::make_unique<paper_observables<float>>(f.test_set));
  t.add(std::make_unique<csv_log<float>>(f.dir.path / name));
  t.add(std::make_unique<run_summary<float>>(f.dir.path / name));
  t.add(std::make_unique<checkpointer<float>>(f.dir.path / (name + "-ckpt"), 2, 2));
  t.add(std::make_unique<stopper>(&stop, stop_after));
  if (const auto latest = latest_checkpoint(f.dir.path / (name + "-ckpt"))) t.resume(*latest);
  t.run();
}

}  // namespace

// A stop request in the middle of an epoch saves the state after that step (batches done,
// the epoch's sums, the batcher's position) and a resume continues from exactly there: once
// in epoch 1, between the early observations of steps 2 and 4, and once in epoch 3, whose
// checkpoint replaces the one of epoch 2's end. Weights and CSV equal an unbroken run's.
BOOST_AUTO_TEST_CASE(a_stop_mid_epoch_resumes_bit_identically) {
  resume_fixture f("stop_mid_epoch");
  auto straight = f.fresh_net();
  run_stoppable(*straight, f, "straight", 0);

  auto broken = f.fresh_net();
  BOOST_CHECK_EXCEPTION(run_stoppable(*broken, f, "broken", 3), training_interrupted,
                        [](const training_interrupted& e) {
                          return e.epoch() == 1u && e.step() == 3u &&
                                 contains(e.what(), "resume continues from ") && contains(e.what(), "ckpt-0");
                        });
  const fs::path ckpt = f.dir.path / "broken-ckpt";
  BOOST_TEST_REQUIRE(list_checkpoints(ckpt).size() == 1u);
  const auto m0 = read_checkpoint_manifest(ckpt / "ckpt-0");
  BOOST_TEST(m0["trainer"]["in_epoch"]["batches"].get<std::size_t>() == 3u);
  BOOST_TEST(m0["optimizer"]["step_count"].get<std::size_t>() == 3u);
  const auto summary = nlohmann::json::parse(read_text(f.dir.path / "broken" / "summary.json"));
  BOOST_TEST(summary["interrupted"].get<bool>());
  BOOST_TEST(summary["last_checkpoint"].get<std::string>() == (ckpt / "ckpt-0").string());

  // 100 samples in batches of 16: 7 steps an epoch; step 17 is the third of epoch 3.
  auto again = f.fresh_net(3.0, 77);
  BOOST_CHECK_THROW(run_stoppable(*again, f, "broken", 17), training_interrupted);
  const auto kept = list_checkpoints(ckpt);
  BOOST_TEST_REQUIRE(kept.size() == 2u);
  BOOST_TEST(kept[0].first == 0u);
  BOOST_TEST(kept[1].first == 2u);  // 2 epochs done, plus 3 batches of the third
  BOOST_TEST(read_checkpoint_manifest(ckpt / "ckpt-2")["trainer"]["in_epoch"]["batches"].get<std::size_t>() == 3u);

  auto last = f.fresh_net(3.0, 78);
  run_stoppable(*last, f, "broken", 0);
  BOOST_TEST((bytes_of(*last) == bytes_of(*straight)));
  BOOST_TEST(f.same_csv("broken", "straight"));
}

// --override in the library: a resume may change lr (or SGD's momentum, weight decay) when
// asked to; the change applies from the checkpoint on, exactly as if the run had been
// scheduled so, and summary.json records it. Without the override the mismatch is refused.
BOOST_AUTO_TEST_CASE(an_override_changes_lr_on_resume_and_is_recorded) {
  resume_fixture f("override");
  // Reference: 0.05 for two epochs, then 0.025 (a step schedule, exact in binary).
  auto ref = quiet_options(4);
  ref.use_schedule = true;
  ref.schedule = lr_schedule::step(0.05, 2, 0.5);
  const auto straight = f.straight(ref);

  auto opt = f.break_at_epoch(quiet_options(4), 2);
  opt.sgd.lr = 0.025;
  auto net = f.fresh_net(3.0, 77);
  BOOST_CHECK_EXCEPTION(train(*net, f.train_set, f.test_set, opt), checkpoint_mismatch, [](const data_error& e) {
    return contains(e.what(), "(trainer.config): expected a checkpoint of a run with lr 0.025 (or a resume that "
                              "overrides lr), found lr 0.05");
  });
  BOOST_TEST(list_checkpoints(opt.checkpoint_dir).size() == 2u);  // a mismatch is not damage: nothing moved
  opt.overrides = {"lr"};
  const auto r = train(*net, f.train_set, f.test_set, opt);
  BOOST_TEST(r.resumed_from_epoch == 2u);
  BOOST_TEST((bytes_of(*net) == bytes_of(*straight)));
  const auto summary = nlohmann::json::parse(read_text(opt.out_dir / "summary.json"));
  const nlohmann::json expected = {
      {{"field", "lr"}, {"old", 0.05}, {"new", 0.025}, {"epoch", 2}, {"step", 14}}};
  BOOST_TEST(summary["changes"] == expected, summary["changes"].dump());
  BOOST_TEST(summary["config"]["lr"].get<double>() == 0.025);
  // The change stays in the run's history through later checkpoints.
  BOOST_TEST(read_checkpoint_manifest(opt.checkpoint_dir / "ckpt-4")["trainer"]["changes"] == expected);

  // Momentum and weight decay (SGD) rebuild the optimiser around the loaded momentum buffers.
  fs::remove_all(f.dir.path / "broken");
  fs::remove_all(f.dir.path / "broken-ckpt");
  auto opt2 = f.break_at_epoch(quiet_options(4), 2);
  opt2.sgd.momentum = 0.5;
  opt2.sgd.weight_decay = 0;
  opt2.overrides = {"momentum", "weight_decay"};
  auto net2 = f.fresh_net();
  train(*net2, f.train_set, f.test_set, opt2);
  const auto s2 = nlohmann::json::parse(read_text(opt2.out_dir / "summary.json"));
  BOOST_TEST(s2["changes"].size() == 2u);
  BOOST_TEST(s2["changes"][0]["field"] == "momentum");
  BOOST_TEST(s2["changes"][0]["old"].get<double>() == 0.9);
  BOOST_TEST(s2["changes"][1]["field"] == "weight_decay");

  // What defines a run cannot be overridden.
  auto bad = quiet_options(4);
  bad.overrides = {"seed"};
  BOOST_CHECK_EXCEPTION(train(*net2, f.train_set, f.test_set, bad), std::invalid_argument,
                        [](const std::invalid_argument& e) { return contains(e.what(), "overrides names 'seed'"); });
}

// A damaged newest checkpoint (a cut tensor file, a garbled manifest) is set aside as
// ckpt-<n>.corrupt-<k>, nothing deleted, and the resume takes the newest valid one: the run
// still ends as an unbroken one does.
BOOST_AUTO_TEST_CASE(a_damaged_newest_checkpoint_falls_back_to_the_previous) {
  resume_fixture f("corrupt");
  const auto straight = f.straight(quiet_options(5));
  for (int damage = 0; damage < 2; ++damage) {
    fs::remove_all(f.dir.path / "broken");
    fs::remove_all(f.dir.path / "broken-ckpt");
    auto opt = f.break_at_epoch(quiet_options(5), 3);
    const fs::path newest = opt.checkpoint_dir / "ckpt-3";
    if (damage == 0) {  // a tensor file cut short
      const auto m = read_checkpoint_manifest(newest);
      const fs::path file = newest / m["tensors"][2]["file"].get<std::string>();
      fs::resize_file(file, fs::file_size(file) - 7);
    } else {  // a manifest garbled, and an earlier corrupt copy already set aside
      write_text(newest / "manifest.json", "{\"format\": \"rhonet-checkpoint\", \"format_vers");
      fs::create_directory(opt.checkpoint_dir / "ckpt-3.corrupt-1");
    }
    const std::string kept = read_text(newest / "manifest.json");
    auto net = f.fresh_net(3.0, 77);
    const auto r = train(*net, f.train_set, f.test_set, opt);
    const fs::path aside = opt.checkpoint_dir / (damage == 0 ? "ckpt-3.corrupt-1" : "ckpt-3.corrupt-2");
    BOOST_TEST(r.resumed_from == opt.checkpoint_dir / "ckpt-2");
    BOOST_TEST_REQUIRE(r.skipped.size() == 1u);
    BOOST_TEST(r.skipped[0].checkpoint == newest);
    BOOST_TEST(r.skipped[0].moved_to == aside);
    BOOST_TEST(contains(r.skipped[0].reason, damage == 0 ? "expected" : "valid JSON"));
    BOOST_TEST(read_text(aside / "manifest.json") == kept);  // moved, not deleted
    BOOST_TEST(r.resumed_from_epoch == 2u);
    BOOST_TEST((bytes_of(*net) == bytes_of(*straight)));
    BOOST_TEST(f.same_csv("broken", "straight"));
  }
}
