// Classification metrics (softmax, argmax, accuracy, the confusion matrix) against
// hand-computed values, and predict(): eval mode, no change to the network's state.
#define BOOST_TEST_MODULE rhonet_metrics
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <rhonet/layers/batch_norm.hpp>
#include <rhonet/layers/dense.hpp>
#include <rhonet/layers/input.hpp>
#include <rhonet/layers/relu.hpp>
#include <rhonet/layers/weight_norm.hpp>
#include <rhonet/metrics.hpp>
#include <rhonet/network.hpp>
#include <rhonet/predict.hpp>

using namespace rhonet;

namespace {
bool has(const std::exception& e, const std::string& what) {
  BOOST_TEST_INFO(e.what());
  return std::string(e.what()).find(what) != std::string::npos;
}
}  // namespace

// exp(-2), exp(-1), 1 over their sum 1.5032147: (0.0900306, 0.2447285, 0.6652410).
BOOST_AUTO_TEST_CASE(softmax_by_hand_and_stable) {
  const matrix<double> out = {{1.0, 2.0, 3.0}, {1000.0, 1000.0, 1000.0}, {-1000.0, 0.0, -1000.0}};
  const matrix<double> p = softmax(out);
  const std::vector<double> expected = {0.0900306, 0.2447285, 0.6652410, 1.0 / 3, 1.0 / 3, 1.0 / 3, 0, 1, 0};
  for (std::size_t i = 0; i < expected.size(); ++i) BOOST_TEST(std::abs(p.data()[i] - expected[i]) < 1e-7);
  // In place, and in float.
  matrix<float> f = {{1.f, 2.f, 3.f}};
  softmax(f, f);
  BOOST_TEST(std::abs(f(0, 2) - 0.6652410f) < 1e-6f);
}

BOOST_AUTO_TEST_CASE(argmax_ties_go_to_the_lowest_index) {
  const matrix<float> out = {{0.f, 3.f, 3.f}, {5.f, -1.f, 2.f}, {-2.f, -1.f, -3.f}};
  BOOST_TEST((argmax(out) == std::vector<std::size_t>{1, 0, 1}));
}

BOOST_AUTO_TEST_CASE(accuracy_from_labels_and_from_targets) {
  const matrix<double> out = {{0.9, 0.1, 0.0}, {0.2, 0.7, 0.1}, {0.5, 0.1, 0.4}, {0.0, 0.2, 0.8}};
  const std::vector<int> labels = {0, 1, 2, 2};  // the third is predicted 0
  BOOST_TEST(accuracy(out, labels) == 0.75);
  matrix<double> target = matrix<double>::from_shape({4, 3});
  target.fill(0);
  for (std::size_t n = 0; n < 4; ++n) target(n, labels[n]) = 1;
  BOOST_TEST(accuracy(out, target) == 0.75);
  // One output, +-1 targets: the sign.
  const matrix<double> g = {{0.3}, {-0.2}, {0.1}, {0.0}}, y = {{1.0}, {-1.0}, {-1.0}, {1.0}};
  BOOST_TEST(accuracy(g, y) == 0.5);
}

BOOST_AUTO_TEST_CASE(confusion_matrix_by_hand) {
  // true: 0 0 1 1 1 2; predicted: 0 1 1 1 2 0
  const matrix<double> out = {{1, 0, 0}, {0, 1, 0}, {0, 1, 0}, {0, 1, 0}, {0, 0, 1}, {1, 0, 0}};
  const std::vector<int> labels = {0, 0, 1, 1, 1, 2};
  confusion_matrix cm(out, labels);
  const std::size_t expected[3][3] = {{1, 1, 0}, {0, 2, 1}, {1, 0, 0}};
  for (std::size_t t = 0; t < 3; ++t)
    for (std::size_t p = 0; p < 3; ++p) BOOST_TEST(cm(t, p) == expected[t][p]);
  BOOST_TEST(cm.total() == 6u);
  BOOST_TEST(cm.correct() == 3u);
  BOOST_TEST(cm.accuracy() == 0.5);
  const auto per = cm.per_class_accuracy();
  BOOST_TEST(per[0] == 0.5);
  BOOST_TEST(std::abs(per[1] - 2.0 / 3) < 1e-15);
  BOOST_TEST(per[2] == 0.0);
  BOOST_TEST((per_class_accuracy(out, labels) == per));

  // Accumulating batch by batch gives the same matrix.
  confusion_matrix acc(3);
  acc.add(matrix<double>{{1, 0, 0}, {0, 1, 0}}, std::vector<int>{0, 0});
  acc.add(matrix<double>{{0, 1, 0}, {0, 1, 0}, {0, 0, 1}, {1, 0, 0}}, std::vector<int>{1, 1, 1, 2});
  for (std::size_t t = 0; t < 3; ++t)
    for (std::size_t p = 0; p < 3; ++p) BOOST_TEST(acc(t, p) == cm(t, p));

  // The table: a header, one row per class, each ending with that class's accuracy.
  const std::vector<std::string> names = {"cat", "dog", "bird"};
  const std::string s = cm.str(names);
  BOOST_TEST(s.find("true \\ pred") == 0u);
  BOOST_TEST(s.find("dog") != std::string::npos);
  BOOST_TEST(s.find("0.6667\n") != std::string::npos);
  BOOST_TEST(std::count(s.begin(), s.end(), '\n') == 4);
}

BOOST_AUTO_TEST_CASE(absent_class_has_nan_accuracy) {
  confusion_matrix cm(matrix<float>{{1.f, 0.f, 0.f}, {0.f, 1.f, 0.f}}, std::vector<int>{0, 1});
  BOOST_TEST(std::isnan(cm.per_class_accuracy()[2]));
  BOOST_TEST(std::isnan(confusion_matrix(4).accuracy()));
}

BOOST_AUTO_TEST_CASE(bad_labels_are_clear_errors) {
  const matrix<double> out = {{1, 0}, {0, 1}};
  BOOST_CHECK_EXCEPTION(accuracy(out, std::vector<int>{0, 2}), std::invalid_argument,
                        [](const auto& e) { return has(e, "label 2 of row 1 is outside [0, 2)"); });
  BOOST_CHECK_EXCEPTION(accuracy(out, std::vector<int>{0}), std::invalid_argument,
                        [](const auto& e) { return has(e, "1 labels for an output of 2 rows"); });
  const matrix<double> one = {{0.5}, {-0.5}};
  BOOST_CHECK_EXCEPTION(confusion_matrix(one, std::vector<int>{0, 1}), std::invalid_argument,
                        [](const auto& e) { return has(e, "classification_error(out, target)"); });
  confusion_matrix cm(3);
  BOOST_CHECK_EXCEPTION(cm.add(out, std::vector<int>{0, 1}), std::invalid_argument,
                        [](const auto& e) { return has(e, "2 columns for a matrix of 3 classes"); });
}

// predict = forward in eval mode: the same output, the running statistics untouched, and a
// single sample is fine (train mode would refuse it).
BOOST_AUTO_TEST_CASE(predict_is_eval_mode_and_leaves_the_state) {
  using Net = basic_network<double, input<3>, dense<4>, batch_norm<>, relu, dense<2>>;
  auto net = std::make_unique<Net>();
  std::mt19937_64 rng(3);
  std::normal_distribution<double> nd;
  for (auto* p : net->parameters())
    for (auto& v : p->value) v = nd(rng);
  matrix<double> x = matrix<double>::from_shape({6, 3});
  for (auto& v : x) v = nd(rng);
  for (int i = 0; i < 3; ++i) net->forward(x, mode::train);
  const auto mean = net->layer<1>().running_mean();
  const auto var = net->layer<1>().running_var();
  const matrix<double> expected = net->forward(x, mode::eval);
  const matrix<double> got = predict(*net, x);
  BOOST_TEST(got == expected);
  BOOST_TEST(net->layer<1>().running_mean() == mean);
  BOOST_TEST(net->layer<1>().running_var() == var);
  matrix<double> one = matrix<double>::from_shape({1, 3});
  std::copy_n(x.data() + 3, 3, one.data());
  const matrix<double>& p1 = predict(*net, one);
  BOOST_TEST(std::abs(p1(0, 0) - expected(1, 0)) < 1e-12);
  BOOST_TEST(std::abs(p1(0, 1) - expected(1, 1)) < 1e-12);
}

// Small eval-mode batches take GEMV (one row) or the small-batch kernel (2 to 8 rows) in the
// dense layers instead of GEMM: each row's output equals that of a large batch (GEMM) to
// rounding. Odd sizes everywhere, so that every tail of the kernel's lanes runs; a biased
// dense and a weight-normalised one, as well as BN+ReLU.
template <class T>
void check_small_batches(double tolerance) {
  using Net = basic_network<T, input<37>, dense<19>, batch_norm<>, relu, weight_norm<dense<23>>, relu,
                            dense<5, bias::on>>;
  auto net = std::make_unique<Net>();
  std::mt19937_64 rng(11);
  std::normal_distribution<double> nd;
  for (auto* p : net->parameters())
    for (auto& v : p->value) v = T(nd(rng));
  matrix<T> x = matrix<T>::from_shape({40, 37});
  for (auto& v : x) v = T(nd(rng));
  for (int i = 0; i < 3; ++i) net->forward(x, mode::train);  // running statistics
  const matrix<T> expected = predict(*net, x);
  for (const std::size_t rows : {1, 2, 3, 4, 5, 6, 7, 8, 9}) {
    for (const std::size_t first : {std::size_t(0), std::size_t(40 - rows)}) {
      matrix<T> xs = matrix<T>::from_shape({rows, 37});
      std::copy_n(x.data() + first * 37, xs.size(), xs.data());
      const matrix<T>& got = predict(*net, xs);
      double worst = 0;
      for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t j = 0; j < 5; ++j) {
          const double e = expected(first + i, j);
          worst = std::max(worst, std::abs(double(got(i, j)) - e) / (1 + std::abs(e)));
        }
      BOOST_TEST_INFO("rows " << rows << " from " << first);
      BOOST_TEST(worst < tolerance);
    }
  }
}

BOOST_AUTO_TEST_CASE(small_batches_match_the_large_batch_path_double) { check_small_batches<double>(1e-12); }
BOOST_AUTO_TEST_CASE(small_batches_match_the_large_batch_path_float) { check_small_batches<float>(1e-5); }
