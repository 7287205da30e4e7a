// The trainer: a short run of an FC net on a small separable set reaches zero training
// error and writes its CSV and summary; a diverging learning rate stops with an error
// naming the epoch and step; the observation schedule.
#define BOOST_TEST_MODULE rhonet_train
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <random>

#include <nlohmann/json.hpp>
#include <rhonet/rhonet.hpp>
#include <rhonet/train.hpp>

#include "support/reliability_support.hpp"

using namespace rhonet;
using rhonet_test::clouds;
namespace fs = std::filesystem;

namespace {

fs::path scratch(const std::string& name) {
  auto p = fs::temp_directory_path() / ("rhonet_test_train_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p;
}

std::size_t count_lines(const fs::path& p) {
  std::ifstream f(p);
  std::size_t n = 0;
  for (std::string line; std::getline(f, line);) ++n;
  return n;
}

using small_net = network<input<17>, dense<16>, batch_norm<>, relu, dense<16>, batch_norm<>, relu, dense<1>>;

}  // namespace

BOOST_AUTO_TEST_CASE(short_run_reaches_zero_training_error) {
  const auto train_set = clouds(256, 1), test_set = clouds(128, 2);
  auto net = std::make_unique<small_net>();
  init_frobenius(net->parameters(), 1.0, 3);
  train_options opt;
  opt.epochs = 15;
  opt.batch = 32;
  opt.sgd = {.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-3};
  opt.progress = false;
  opt.out_dir = scratch("run");
  const auto r = train(*net, train_set, test_set, opt);
  BOOST_TEST(r.history.front().train_error > 0.1);  // the untrained net is not already right
  BOOST_TEST(r.history.back().train_error == 0.0);
  BOOST_TEST(r.history.back().margin_min > 0.0);    // separable: every margin positive
  // epoch 0, early iterations 1, 2, 4 (8 batches an epoch), then every epoch
  BOOST_TEST(r.history.size() == 1u + 3u + 15u);
  BOOST_TEST(count_lines(opt.out_dir / "observations.csv") == 1 + r.history.size());
  BOOST_TEST(count_lines(opt.out_dir / "margins.csv") == 1 + r.history.size());
  std::ifstream sf(opt.out_dir / "summary.json");
  const auto summary = nlohmann::json::parse(sf);
  BOOST_TEST(summary["diverged"].get<bool>() == false);
  BOOST_TEST((summary["scale_invariant_layers"] == nlohmann::json::array({1, 2})));
  BOOST_TEST((summary["factoring_layers"] == nlohmann::json::array({3})));
  fs::remove_all(opt.out_dir);
}

BOOST_AUTO_TEST_CASE(diverging_learning_rate_stops_with_a_clear_error) {
  const auto train_set = clouds(128, 4), test_set = clouds(32, 5);
  auto net = std::make_unique<network<input<17>, dense<16>, relu, dense<16>, relu, dense<1>>>();
  init_frobenius(net->parameters(), 5.0, 3);
  train_options opt;
  opt.epochs = 50;
  opt.batch = 32;
  opt.sgd = {.lr = 50.0, .momentum = 0.9};
  opt.progress = false;
  opt.out_dir = scratch("diverge");
  BOOST_CHECK_EXCEPTION(train(*net, train_set, test_set, opt), training_diverged,
                        [](const training_diverged& e) {
                          const std::string w = e.what();
                          return w.find("epoch ") != std::string::npos &&
                                 w.find("step ") != std::string::npos && e.step() < 50 * 4;
                        });
  std::ifstream sf(opt.out_dir / "summary.json");
  BOOST_TEST(nlohmann::json::parse(sf)["diverged"].get<bool>() == true);
  fs::remove_all(opt.out_dir);
}

BOOST_AUTO_TEST_CASE(observation_schedule) {
  const auto every = observation_epochs(10, 60, 40);
  BOOST_TEST(every.size() == 10u);
  const auto logs = observation_epochs(1000, 60, 40);
  BOOST_TEST(*logs.begin() == 1u);
  BOOST_TEST(*logs.rbegin() == 1000u);
  BOOST_TEST(logs.size() <= 40u);
  BOOST_TEST(logs.size() >= 25u);
  BOOST_TEST(sum_form_lambda(0.01, 12000) == 60.0);
}

// ---------------------------------------------------------------------------------------
// The trainer object: multi-class training with observers, a user's own observer, the loss
// as a parameter, resume checks, and the run format defined once.
namespace {

// C separable clouds in 16 dimensions (+1 bias), unit norm, one-hot targets.
dataset<float> class_clouds(std::size_t n, std::size_t C, std::uint64_t seed) {
  dataset<float> d;
  d.x = matrix<float>::from_shape({n, 17});
  d.target = matrix<float>::from_shape({n, C});
  d.target.fill(0.f);
  d.channels = 1, d.height = 1, d.width = 16, d.classes = C, d.source = "class_clouds";
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.f, 1.f);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t c = i % C;
    float norm = 0;
    for (std::size_t j = 0; j < 16; ++j) {
      d.x(i, j) = 0.3f * g(rng) + (j == c ? 2.f : 0.f);
      norm += d.x(i, j) * d.x(i, j);
    }
    for (std::size_t j = 0; j < 16; ++j) d.x(i, j) /= std::sqrt(norm);
    d.x(i, 16) = 1.f;
    d.target(i, c) = 1.f;
    d.label.push_back(int(c));
  }
  return d;
}

// A user's observer: counts steps and remembers the last observation's NC1.
struct step_counter final : run_observer<float> {
  std::size_t steps = 0, observations = 0;
  double last_nc1 = 0;
  void on_step(trainer<float>&, const step_report<float>&) override { ++steps; }
  void on_observe(trainer<float>&, const observation& o) override {
    ++observations;
    last_nc1 = o.nc1;
  }
};

using net3 = network<input<17>, dense<16>, batch_norm<>, relu, dense<16>, batch_norm<>, relu, dense<3>>;

}  // namespace

BOOST_AUTO_TEST_CASE(trainer_trains_a_multiclass_net_with_observers) {
  const auto train_set = class_clouds(240, 3, 1), test_set = class_clouds(60, 3, 2);
  auto net = std::make_unique<net3>();
  init_frobenius(net->parameters(), 1.0, 3);
  model_of<net3> m(*net);
  trainer<float> t(m, train_set, {.epochs = 12, .batch = 32, .sgd = {.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-3}});
  step_counter counter;
  const fs::path out = scratch("multiclass");
  t.add(std::make_unique<fault_guard<float>>());
  t.add(std::make_unique<paper_observables<float>>(test_set));
  t.add(std::make_unique<csv_log<float>>(out));
  t.add(std::make_unique<run_summary<float>>(out, nlohmann::json{{"setting", "clouds3"}}, &test_set));
  t.add(counter);
  t.run();
  BOOST_TEST(counter.steps == 12u * 8u);
  BOOST_TEST(counter.observations == t.history().size());
  const observation& first = t.history().front();
  const observation& last = t.history().back();
  BOOST_TEST(first.train_error > 0.3);  // chance is 2/3
  BOOST_TEST(last.train_error == 0.0);
  BOOST_TEST(last.margin_min > 0.0);    // f_y - max_{c != y} f_c > 0 for every sample
  BOOST_TEST(last.rho_eq > 0.0);
  BOOST_TEST(last.nc1 < first.nc1 / 4);  // within-class variability collapses
  BOOST_TEST(last.nc4 == 0.0);           // nearest class mean agrees with the network
  BOOST_TEST(std::isfinite(last.nc3));
  BOOST_TEST(std::isfinite(last.residual));
  BOOST_TEST(counter.last_nc1 == last.nc1);
  std::ifstream sf(out / "summary.json");
  const auto s = nlohmann::json::parse(sf);
  BOOST_TEST(s["config"]["batch"] == 32);
  BOOST_TEST(s["config"]["loss"] == "square");
  BOOST_TEST(s["config"]["data"]["classes"] == 3);
  BOOST_TEST(s["config"]["model"]["signature"].get<std::string>() == net3::signature());
  BOOST_TEST(s["meta"]["setting"] == "clouds3");
  BOOST_TEST(s["finished"].get<bool>());
  BOOST_TEST(s["columns"].size() == observation_columns().size());
  BOOST_TEST(s["final"]["train_error"].get<double>() == 0.0);
  BOOST_TEST(count_lines(out / "observations.csv") == 1 + t.history().size());
  fs::remove_all(out);
}

BOOST_AUTO_TEST_CASE(the_loss_is_a_parameter_and_is_what_is_reported) {
  const auto train_set = class_clouds(90, 3, 4), test_set = class_clouds(30, 3, 5);
  auto net = std::make_unique<net3>();
  init_frobenius(net->parameters(), 1.0, 3);
  model_of<net3> m(*net);
  trainer<float> t(m, train_set, {.epochs = 2, .batch = 30, .sgd = {.lr = 0.05}, .loss = cross_entropy{reduction::mean}});
  t.add(std::make_unique<paper_observables<float>>(test_set));
  t.run();
  const double reported = t.history().back().test_loss;
  const auto& g = net->forward(test_set.x, mode::eval);
  const double direct = cross_entropy{reduction::mean}.value(g, test_set.target);
  BOOST_TEST(reported == direct, boost::test_tools::tolerance(1e-6));
  BOOST_TEST(reported != square_loss{reduction::mean}.value(g, test_set.target));
}

BOOST_AUTO_TEST_CASE(resume_refuses_another_training_set) {
  const auto a = class_clouds(64, 3, 6), b = class_clouds(64, 3, 7);  // same size, other data
  const fs::path ckpt = scratch("fingerprint");
  auto net = std::make_unique<net3>();
  model_of<net3> m(*net);
  {
    trainer<float> t(m, a, {.epochs = 1, .batch = 16});
    t.add(std::make_unique<checkpointer<float>>(ckpt));
    t.run();
  }
  trainer<float> other(m, b, {.epochs = 2, .batch = 16});
  BOOST_CHECK_EXCEPTION(other.resume(checkpoint_path(ckpt, 1)), data_error, [](const data_error& e) {
    return std::string(e.what()).find("train_fingerprint") != std::string::npos;
  });
  trainer<float> same(m, a, {.epochs = 2, .batch = 16});
  same.resume(checkpoint_path(ckpt, 1));
  BOOST_TEST(same.epochs_done() == 1u);
  BOOST_TEST(same.steps() == 4u);  // the step count lives in the optimizer's part only
  fs::remove_all(ckpt);
}

// The column section of docs/run-format.md is generated from observation_columns().
BOOST_AUTO_TEST_CASE(run_format_docs_match_the_column_table) {
  std::ifstream in(std::string(RHONET_SOURCE_DIR) + "/docs/run-format.md");
  BOOST_TEST_REQUIRE(in.good());
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string begin = "<!-- columns: generated from observation_columns() -->\n", end = "<!-- end of columns -->";
  const auto a = text.find(begin), b = text.find(end);
  BOOST_TEST_REQUIRE(a != std::string::npos);
  BOOST_TEST_REQUIRE(b != std::string::npos);
  const std::string section = text.substr(a + begin.size(), b - a - begin.size());
  BOOST_TEST(section == observation_columns_markdown(),
             "docs/run-format.md disagrees with observation_columns(); regenerate the section with\n"
                 << observation_columns_markdown());
}

// A checkpoint of format 1 (the trainer's and the batcher's state inside "extra") still
// resumes: the reader maps it to the parts of format 2.
BOOST_AUTO_TEST_CASE(format_1_checkpoints_resume) {
  const auto a = class_clouds(64, 3, 8);
  const fs::path ckpt = scratch("format1");
  auto net = std::make_unique<net3>();
  init_frobenius(net->parameters(), 1.0, 3);
  model_of<net3> m(*net);
  {
    trainer<float> t(m, a, {.epochs = 1, .batch = 16, .sgd = {.lr = 0.05, .momentum = 0.9}});
    t.add(std::make_unique<checkpointer<float>>(ckpt));
    t.run();
  }
  const fs::path dir = checkpoint_path(ckpt, 1);
  nlohmann::json m2 = read_checkpoint_manifest(dir);
  nlohmann::json v1 = m2;
  v1["format_version"] = 1;
  v1["extra"] = {{"epoch", m2["trainer"]["epoch"]}, {"step", m2["optimizer"]["step_count"]},
                 {"batcher", m2["batcher"]["state"]}, {"seed", 1}, {"batch", 16}, {"train_samples", 64},
                 {"drop_last", 0}, {"seconds", 1.5}};
  v1.erase("trainer");
  v1.erase("batcher");
  std::ofstream(dir / "manifest.json") << v1.dump(2);
  auto other = std::make_unique<net3>();
  model_of<net3> m_other(*other);
  trainer<float> t(m_other, a, {.epochs = 2, .batch = 16, .sgd = {.lr = 0.05, .momentum = 0.9}});
  t.resume(dir);
  BOOST_TEST(t.epochs_done() == 1u);
  BOOST_TEST(t.steps() == 4u);
  BOOST_TEST(t.seconds() >= 1.5);
  for (std::size_t i = 0; i < net->parameters().size(); ++i)
    BOOST_TEST((net->parameters()[i]->value == other->parameters()[i]->value));
  // A format 1 checkpoint of another batch size is refused, naming the field.
  trainer<float> wrong(m_other, a, {.epochs = 2, .batch = 8, .sgd = {.lr = 0.05, .momentum = 0.9}});
  BOOST_CHECK_EXCEPTION(wrong.resume(dir), data_error, [](const data_error& e) {
    return std::string(e.what()).find("batch 8") != std::string::npos;
  });
  fs::remove_all(ckpt);
}

// A stop request ends the run after the step in progress; summary.json says so, and a resume
// continues from the last checkpoint.
BOOST_AUTO_TEST_CASE(a_stop_request_ends_the_run_after_its_step) {
  const auto a = class_clouds(64, 3, 9), test_set = class_clouds(30, 3, 10);
  const fs::path out = scratch("stop");
  std::atomic<bool> stop{false};
  struct stop_after final : run_observer<float> {
    std::atomic<bool>* flag;
    std::size_t at;
    void on_step(trainer<float>&, const step_report<float>& r) override {
      if (r.step == at) flag->store(true);
    }
  } stopper;
  stopper.flag = &stop;
  stopper.at = 6;  // in the second epoch (4 steps an epoch)
  train_options opt;
  opt.epochs = 5;
  opt.batch = 16;
  opt.progress = false;
  opt.out_dir = out / "run";
  opt.checkpoint_dir = out / "ckpt";
  opt.stop = &stop;
  auto net = std::make_unique<net3>();
  model_of<net3> m(*net);
  // Through the trainer directly, to add the observer that raises the flag.
  trainer_options to{.epochs = 5, .batch = 16, .stop = &stop};
  trainer<float> t(m, a, to);
  t.add(std::make_unique<checkpointer<float>>(opt.checkpoint_dir));
  t.add(std::make_unique<run_summary<float>>(opt.out_dir));
  t.add(stopper);
  BOOST_CHECK_EXCEPTION(t.run(), training_interrupted, [&](const training_interrupted& e) {
    return e.last_checkpoint() == checkpoint_path(opt.checkpoint_dir, 1) &&
           std::string(e.what()).find("step 6") != std::string::npos;
  });
  BOOST_TEST(t.steps() == 6u);
  std::ifstream sf(opt.out_dir / "summary.json");
  const auto s = nlohmann::json::parse(sf);
  BOOST_TEST(s["interrupted"].get<bool>());
  BOOST_TEST(!s["finished"].get<bool>());
  // The wrapper resumes from epoch 1.
  stop = false;
  opt.resume = true;
  const auto r = train(*net, a, test_set, opt);
  BOOST_TEST(r.resumed_from_epoch == 1u);
  fs::remove_all(out);
}

// The optimiser and plateau options: one optimiser, a known metric, no schedule with the
// plateau scheduler; each refusal names what to change.
BOOST_AUTO_TEST_CASE(optimiser_choice_is_checked) {
  const auto a = class_clouds(64, 3, 11);
  auto net = std::make_unique<net3>();
  model_of<net3> m(*net);
  auto refused = [&](trainer_options o, const std::string& part) {
    BOOST_CHECK_EXCEPTION(trainer<float>(m, a, o), std::invalid_argument, [&](const std::invalid_argument& e) {
      BOOST_TEST_MESSAGE(e.what());
      return std::string(e.what()).find(part) != std::string::npos;
    });
  };
  refused({.adam = adam_options{}, .adamw = adamw_options{}}, "both adam and adamw");
  refused({.sgd = {.lr = 0.1}, .adam = adam_options{}}, "both sgd and adam");
  refused({.schedule = lr_schedule::constant(0.1), .plateau = plateau_options{}}, "both schedule and plateau");
  refused({.plateau = plateau_options{}, .plateau_metric = "test_los"}, "expected one of epoch_loss, epoch_error");
  trainer<float> t(m, a, {.adamw = adamw_options{.lr = 0.003}});
  BOOST_TEST(std::string(t.optimizer().type()) == "adamw");
  BOOST_TEST(t.optimizer().lr() == 0.003);
  BOOST_TEST(t.plateau() == nullptr);
  BOOST_TEST(dynamic_cast<adamw<float>*>(&t.optimizer()) != nullptr);
}

// A plateau metric taken from the observations steps the scheduler on observed epochs only,
// with that observation's value.
BOOST_AUTO_TEST_CASE(plateau_on_an_observed_metric) {
  const auto a = class_clouds(64, 3, 12), test_set = class_clouds(30, 3, 13);
  auto net = std::make_unique<net3>();
  init_frobenius(net->parameters(), 1.0, 3);
  model_of<net3> m(*net);
  trainer<float> t(m, a,
                   {.epochs = 5, .batch = 16, .adam = adam_options{.lr = 0.01},
                    .plateau = plateau_options{.patience = 0, .threshold = 10.0, .threshold_mode = plateau_threshold::abs},
                    .plateau_metric = "test_loss",
                    .observe_epochs = {2, 4}, .observe_early_steps = false});
  t.add(std::make_unique<paper_observables<float>>(test_set));
  t.run();
  BOOST_TEST_REQUIRE(t.plateau() != nullptr);
  BOOST_TEST(t.plateau()->steps() == 2u);  // epochs 2 and 4
  BOOST_TEST(t.plateau()->best() == t.history().at(1).test_loss);  // the first value is the best one
  // An improvement must be by 10 (the loss is below that): epoch 4 is not one and lowers the lr.
  BOOST_TEST(std::abs(t.optimizer().lr() - 0.001) <= 1e-12);
}

namespace {

// The clouds in double: the flow check's identities hold to rounding there.
rhonet::dataset<double> clouds_double(std::size_t n, std::uint64_t seed) {
  const auto f = clouds(n, seed);
  rhonet::dataset<double> d;
  d.x = matrix<double>::from_shape({f.x.shape()[0], f.x.shape()[1]});
  d.target = matrix<double>::from_shape({f.target.shape()[0], f.target.shape()[1]});
  for (std::size_t i = 0; i < f.x.size(); ++i) d.x.data()[i] = f.x.data()[i];
  for (std::size_t i = 0; i < f.target.size(); ++i) d.target.data()[i] = f.target.data()[i];
  d.label = f.label;
  d.channels = f.channels, d.height = f.height, d.width = f.width, d.classes = f.classes, d.source = f.source;
  return d;
}

// flow.csv as columns.
std::map<std::string, std::vector<double>> read_flow_csv(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  std::vector<std::string> names;
  for (std::size_t b = 0, e; b <= line.size(); b = e + 1) {
    e = line.find(',', b);
    if (e == std::string::npos) e = line.size();
    names.push_back(line.substr(b, e - b));
  }
  std::map<std::string, std::vector<double>> cols;
  while (std::getline(in, line)) {
    std::size_t b = 0;
    for (const auto& n : names) {
      const std::size_t e = std::min(line.find(',', b), line.size());
      cols[n].push_back(std::strtod(line.substr(b, e - b).c_str(), nullptr));
      b = e + 1;
    }
  }
  return cols;
}

template <class Net>
std::map<std::string, std::vector<double>> run_flow(const std::string& name, double lr, std::size_t steps) {
  const auto train_set = clouds_double(64, 1), test_set = clouds_double(32, 2);
  auto net = std::make_unique<Net>();
  init_frobenius(net->parameters(), 1.0, 3);
  train_options opt;
  opt.epochs = steps;
  opt.batch = train_set.size();  // full batch: gradient descent
  opt.sgd = {.lr = lr, .momentum = 0, .weight_decay = 0.01};
  opt.progress = false;
  opt.out_dir = scratch(name);
  flow_check<double> flow(opt.out_dir);
  train(*net, train_set, test_set, opt, {&flow});
  return read_flow_csv(opt.out_dir / "flow.csv");
}

double max_finite(const std::vector<double>& xs, std::size_t from = 0) {
  double m = 0;
  for (std::size_t i = from; i < xs.size(); ++i)
    if (std::isfinite(xs[i])) m = std::max(m, xs[i]);
  return m;
}

}  // namespace

BOOST_AUTO_TEST_CASE(flow_check_matches_the_norm_equations) {
  // BN net: layers 1 and 2 are BN-preceded (radial gradient 0 up to eps), layer 3 factors.
  using bn_net = basic_network<double, input<17>, dense<16>, batch_norm<>, relu, dense<16>, batch_norm<>, relu,
                               dense<1>>;
  auto c = run_flow<bn_net>("flow_bn", 1e-3, 300);
  BOOST_REQUIRE(c.count("radial_res_3") && c["tau"].size() > 10);
  BOOST_TEST(max_finite(c["radial_res_3"]) < 1e-10);  // homogeneity: exact up to rounding
  BOOST_TEST(max_finite(c["radial_res_1"]) < 1e-3);   // scale invariance, up to BN's eps
  BOOST_TEST(max_finite(c["radial_res_2"]) < 1e-3);
  // A small step follows the flow once the large gradients of the start are gone (early on,
  // a BN-preceded norm grows by lr ||grad||^2 / (2 rho) a step: the sphere's curvature).
  const std::size_t late = c["tau"].size() / 2;
  for (int k = 1; k <= 3; ++k) BOOST_TEST(max_finite(c["flow_res_" + std::to_string(k)], late) < 1e-2);
  BOOST_TEST(std::abs(c["tau"].back() - 1e-3 * double(c["iter"].back())) < 1e-12);

  // Weight-normalised net: every scale factors; the same closed form holds for each.
  using wn_net = basic_network<double, input<17>, weight_norm<dense<16>>, relu, weight_norm<dense<1>>>;
  auto w = run_flow<wn_net>("flow_wn", 1e-3, 300);
  for (int k = 1; k <= 2; ++k) {
    BOOST_TEST(max_finite(w["radial_res_" + std::to_string(k)]) < 1e-10);
    BOOST_TEST(max_finite(w["flow_res_" + std::to_string(k)], 2) < 1e-3);
  }
  // The discretisation error is what flow_res measures: a 4x larger step gives a larger one.
  auto big = run_flow<wn_net>("flow_wn_big", 4e-3, 75);
  BOOST_TEST(max_finite(big["flow_res_1"], 2) > 2 * max_finite(w["flow_res_1"], 2));
}

BOOST_AUTO_TEST_CASE(flow_check_refuses_a_run_that_does_not_follow_the_flow) {
  const auto train_set = clouds_double(64, 1), test_set = clouds_double(32, 2);
  using net_t = basic_network<double, input<17>, dense<16>, relu, dense<1>>;
  auto net = std::make_unique<net_t>();
  init_frobenius(net->parameters(), 1.0, 3);
  train_options opt;
  opt.epochs = 1;
  opt.batch = 16;  // mini-batches
  opt.sgd = {.lr = 1e-3, .momentum = 0};
  opt.progress = false;
  flow_check<double> flow(scratch("flow_refused"));
  try {
    train(*net, train_set, test_set, opt, {&flow});
    BOOST_FAIL("a mini-batch run was accepted");
  } catch (const std::invalid_argument& e) {
    BOOST_TEST(std::string(e.what()).find("gradient flow") != std::string::npos);
  }
}

// ---------------------------------------------------------------------------------------------
// The update inside the backward pass (trainer_options::update_in_backward): each parameter is
// updated as soon as its gradient is final, which must give the same bits as the update after
// the pass, for every optimiser and every kind of layer (fused BN + ReLU, weight norm, conv).

namespace {

template <class M>  // a matrix or a vector
bool same_bits(const M& a, const M& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.size() * sizeof(*a.data())) == 0;
}

// Two copies of Net from one init take `steps` steps on fixed random batches: the first with
// backward(); opt.step(), the second with backward_and_step(). Every parameter, buffer and
// optimiser state must stay bitwise equal.
template <class Net, class MakeOpt>
void check_update_in_backward(MakeOpt make_opt, std::size_t steps) {
  using T = typename Net::value_type;
  auto a = std::make_unique<Net>(), b = std::make_unique<Net>();
  init_frobenius(a->parameters(), 2.0, 7);
  init_frobenius(b->parameters(), 2.0, 7);
  auto oa = make_opt(a->parameters());
  auto ob = make_opt(b->parameters());
  model_of<Net> mb(*b);
  normal_rng rng(11);
  matrix<T> x = matrix<T>::from_shape({12, Net::input_size}), y = matrix<T>::from_shape({12, Net::output_size});
  matrix<T> ga, gb;
  for (std::size_t s = 0; s < steps; ++s) {
    for (auto& v : x) v = T(rng());
    for (auto& v : y) v = T(rng() > 0 ? 1 : -1);
    square_loss{}.loss_and_grad(a->forward(x, mode::train), y, ga);
    a->backward(ga);
    oa->step();
    square_loss{}.loss_and_grad(mb.forward(x, mode::train), y, gb);
    mb.backward_and_step(gb, *ob);
  }
  BOOST_TEST(oa->step_count() == ob->step_count());
  const auto pa = a->parameters(), pb = b->parameters();
  for (std::size_t i = 0; i < pa.size(); ++i)
    BOOST_TEST_CONTEXT(Net::signature() << ", " << pa[i]->name) {
      BOOST_TEST(same_bits(pa[i]->value, pb[i]->value));
      BOOST_TEST(same_bits(pa[i]->grad, pb[i]->grad));
    }
  const auto ba = a->buffers(), bb = b->buffers();
  for (std::size_t i = 0; i < ba.size(); ++i) BOOST_TEST(same_bits(ba[i]->value, bb[i]->value));
  const auto sa = oa->state(), sb = ob->state();
  BOOST_TEST_REQUIRE(sa.size() == sb.size());
  for (std::size_t i = 0; i < sa.size(); ++i) BOOST_TEST(same_bits(sa[i], sb[i]));
  // A real training: the weights moved.
  BOOST_TEST(!same_bits(pa[0]->value, [&] {
    auto fresh = std::make_unique<Net>();
    init_frobenius(fresh->parameters(), 2.0, 7);
    return fresh->parameters()[0]->value;
  }()));
}

template <class Net>
void check_every_optimiser() {
  using T = typename Net::value_type;
  using ps = std::vector<parameter<T>*>;
  check_update_in_backward<Net>([](ps p) { return std::make_unique<sgd<T>>(p, sgd_options{.lr = 0.05}); }, 5);
  check_update_in_backward<Net>(
      [](ps p) {
        return std::make_unique<sgd<T>>(p, sgd_options{.lr = 0.05, .momentum = 0.9, .weight_decay = 0.01});
      },
      5);
  check_update_in_backward<Net>(
      [](ps p) {
        return std::make_unique<sgd<T>>(
            p, sgd_options{.lr = 0.05, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true});
      },
      5);
  check_update_in_backward<Net>(
      [](ps p) { return std::make_unique<adam<T>>(p, adam_options{.lr = 1e-3, .weight_decay = 0.01}); }, 5);
  check_update_in_backward<Net>(
      [](ps p) { return std::make_unique<adamw<T>>(p, adamw_options{.lr = 1e-3, .weight_decay = 0.01}); }, 5);
}

}  // namespace

BOOST_AUTO_TEST_CASE(update_in_backward_is_bit_identical) {
  check_every_optimiser<network<input<17>, dense<16>, batch_norm<>, relu, dense<16>, batch_norm<>, relu, dense<2>>>();
  check_every_optimiser<basic_network<double, input<17>, weight_norm<dense<16>>, relu, dense<16, bias::on>, relu,
                                      weight_norm<dense<1>>>>();
  check_every_optimiser<network<input<2, 8, 8>, conv2d<4, 3, 2, 1>, batch_norm<>, relu, conv2d<3, 4, 1, 0>>>();
}

BOOST_AUTO_TEST_CASE(update_in_backward_trains_the_same_run) {
  // The trainer with and without it: the same observations, to the last printed digit of every
  // column but the wall time.
  auto run = [](bool inside) {
    const auto train_set = clouds(96, 1), test_set = clouds(32, 2);
    auto net = std::make_unique<small_net>();
    init_frobenius(net->parameters(), 1.0, 3);
    train_options opt;
    opt.epochs = 3;
    opt.batch = 32;
    opt.sgd = {.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-3};
    opt.progress = false;
    opt.update_in_backward = inside;
    return train(*net, train_set, test_set, opt).history;
  };
  const auto a = run(false), b = run(true);
  BOOST_TEST_REQUIRE(a.size() == b.size());
  auto row = [](observation o) {
    o.seconds = 0;
    return o.csv_row();
  };
  for (std::size_t i = 0; i < a.size(); ++i) BOOST_TEST(row(a[i]) == row(b[i]));
  BOOST_TEST(a.back().train_error < a.front().train_error);
}

BOOST_AUTO_TEST_CASE(update_in_backward_is_refused_where_it_changes_what_is_measured) {
  const auto train_set = clouds_double(64, 1), test_set = clouds_double(32, 2);
  using net_t = basic_network<double, input<17>, dense<16>, relu, dense<1>>;
  auto net = std::make_unique<net_t>();
  init_frobenius(net->parameters(), 1.0, 3);
  train_options opt;
  opt.epochs = 1;
  opt.batch = train_set.size();
  opt.sgd = {.lr = 1e-3, .momentum = 0};
  opt.progress = false;
  opt.update_in_backward = true;
  flow_check<double> flow(scratch("flow_inside"));
  try {
    train(*net, train_set, test_set, opt, {&flow});
    BOOST_FAIL("flow_check accepted an update inside the backward pass");
  } catch (const std::invalid_argument& e) {
    BOOST_TEST(std::string(e.what()).find("update_in_backward") != std::string::npos);
  }
  // An optimiser that holds a parameter the network does not have would miss its update.
  auto other = std::make_unique<net_t>();
  auto ps = net->parameters();
  ps.push_back(other->parameters()[0]);
  sgd<double> opt2(ps, {.lr = 0.1});
  model_of<net_t> m(*net);
  matrix<double> g;
  square_loss{}.loss_and_grad(m.forward(train_set.x, mode::train), train_set.target, g);
  BOOST_CHECK_THROW(m.backward_and_step(g, opt2), std::logic_error);
}

// A network whose output is subnormal (three layers of Frobenius norm 1e-14: about 1e-42):
// the trainer flushes it to exactly 0 by default, keeps it with flush_subnormals = false,
// and leaves the calling thread's mode as it found it, on an exception too.
BOOST_AUTO_TEST_CASE(subnormals_are_flushed_while_training) {
  using tiny_net = network<input<17>, dense<16>, relu, dense<16>, relu, dense<1>>;
  const auto a = clouds(64, 3);
  const int threads_before = threads();
  set_threads(1);  // everything on this thread: the mode checked is the caller's
  struct outputs final : run_observer<float> {
    std::size_t zero = 0, subnormal = 0, flushing = 0, steps = 0;
    void on_backward(trainer<float>&, const step_report<float>& r) override {
      for (float v : *r.out) {
        zero += v == 0.0f;
        subnormal += std::fpclassify(v) == FP_SUBNORMAL;
      }
      flushing += flushing_subnormals();
      ++steps;
    }
  };
  const bool before = flushing_subnormals();
  for (bool flush : {true, false}) {
    BOOST_TEST_CONTEXT("flush_subnormals " << flush) {
      auto net = std::make_unique<tiny_net>();
      init_frobenius(net->parameters(), 1e-14, 4);
      model_of<tiny_net> m(*net);
      outputs o;
      trainer<float> t(m, a, {.epochs = 1, .batch = 16, .flush_subnormals = flush});
      t.add(o);
      t.run();
      BOOST_TEST(o.steps == 4u);
      BOOST_TEST(o.flushing == (flush ? o.steps : 0u));
      if (flush) {
        BOOST_TEST(o.zero == a.size());
      } else {
        BOOST_TEST(o.subnormal > a.size() / 2);
      }
      BOOST_TEST(flushing_subnormals() == before);
      BOOST_TEST(to_json(t.options())["flush_subnormals"].get<bool>() == flush);  // summary.json, checkpoints
    }
  }
  struct fails final : run_observer<float> {
    void on_begin(trainer<float>&) override { throw std::runtime_error("observer failed"); }
  } failing;
  auto net = std::make_unique<tiny_net>();
  model_of<tiny_net> m(*net);
  trainer<float> t(m, a, {.epochs = 1, .batch = 16});
  t.add(failing);
  BOOST_CHECK_THROW(t.run(), std::runtime_error);
  BOOST_TEST(flushing_subnormals() == before);
  set_threads(threads_before);
}
