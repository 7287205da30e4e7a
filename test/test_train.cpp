// The trainer: a short run of an FC net on a small separable set reaches zero training
// error and writes its CSV and summary; a diverging learning rate stops with an error
// naming the epoch and step; the observation schedule.
#define BOOST_TEST_MODULE rhonet_train
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
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
  BOOST_TEST(!r.diverged);
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
