// The identities of the theory, numerically: g = rho f; g(a x) = a g(x) for a bias-free
// ReLU net; invariance of the output to the scale of a BN-preceded W_k and the resulting
// orthogonality <W_k, dL/dW_k> = 0; Euler's identity <W_L, dg/dW_L> = g for the last layer;
// batch norm against a hand-computed case.
#define BOOST_TEST_MODULE rhonet_identities
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <memory>

#include <rhonet/rhonet.hpp>

#include "support/gradcheck.hpp"

using namespace rhonet;
namespace rt = rhonet::testing;

namespace {

using fc_plain = basic_network<double, input<9>, dense<7>, relu, dense<6>, relu, dense<5>, relu, dense<1>>;
using fc_bn = basic_network<double, input<9>, dense<7>, batch_norm<>, relu, dense<6>, batch_norm<>,
                            relu, dense<5>, batch_norm<>, relu, dense<1>>;
using conv_bn = basic_network<double, input<1, 8, 8>, conv2d<3, 3, 2, 1>, batch_norm<>, relu,
                              conv2d<4, 3, 2, 1>, batch_norm<>, relu, conv2d<2, 2, 1, 0>>;
using fc_wn = basic_network<double, input<9>, weight_norm<dense<7>>, relu, weight_norm<dense<1>>>;

template <class Net>
std::unique_ptr<Net> random_net(std::mt19937_64& rng) {
  auto net = std::make_unique<Net>();
  rt::randomize(*net, rng, 0.7);
  return net;
}

matrix<double> random_input(std::size_t n, std::size_t d, std::mt19937_64& rng) {
  matrix<double> x = matrix<double>::from_shape({n, d});
  rt::fill_normal(x, rng);
  return x;
}

double max_rel_diff(const matrix<double>& a, const matrix<double>& b) {
  double d = 0, s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    d = std::max(d, std::abs(a.data()[i] - b.data()[i]));
    s = std::max(s, std::abs(b.data()[i]));
  }
  return d / s;
}

// Divide every factoring layer of a copy by its norm: the copy computes f.
template <class Net>
std::unique_ptr<Net> normalized_copy(const Net& net) {
  auto copy = std::make_unique<Net>(net);
  std::size_t i = 0;
  copy->for_each_layer([&](auto& l) {
    if constexpr (std::remove_cvref_t<decltype(l)>::has_weights) {
      if (Net::homogeneity.factors_out(i)) {
        if constexpr (requires { l.scale(); }) l.scale().value /= layer_norm(l);
        else l.weight().value /= layer_norm(l);
      }
    }
    ++i;
  });
  return copy;
}

template <class Net>
void check_g_equals_rho_f(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto net = random_net<Net>(rng);
  auto x = random_input(6, Net::input_size, rng);
  for (mode m : {mode::train, mode::eval}) {
    matrix<double> g = net->forward(x, m);
    auto unit = normalized_copy(*net);
    matrix<double> f = unit->forward(x, m);
    BOOST_TEST(std::abs(unit->rho() - 1.0) < 1e-12);
    matrix<double> rho_f = f * net->rho();
    BOOST_TEST(max_rel_diff(rho_f, g) < 1e-12);
    matrix<double> f2;
    net->normalized_output(x, f2, m);
    BOOST_TEST(max_rel_diff(f2, f) < 1e-12);
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(g_equals_rho_f) {
  check_g_equals_rho_f<fc_plain>(1);
  check_g_equals_rho_f<fc_bn>(2);
  check_g_equals_rho_f<conv_bn>(3);
  check_g_equals_rho_f<fc_wn>(4);
}

BOOST_AUTO_TEST_CASE(plain_relu_net_is_homogeneous_in_its_input) {
  std::mt19937_64 rng(11);
  auto net = random_net<fc_plain>(rng);
  auto x = random_input(5, 9, rng);
  const matrix<double> g = net->forward(x, mode::eval);
  for (double a : {0.25, 3.0, 17.0}) {
    matrix<double> ax = a * x;
    matrix<double> ag = a * g;
    BOOST_TEST(max_rel_diff(net->forward(ax, mode::eval), ag) < 1e-12);
  }
  static_assert(fc_plain::degree_in_input == 1);
  static_assert(fc_bn::degree_in_input == 0);
}

// Scaling a W_k that feeds a BN leaves the output unchanged (exactly with eps = 0; up to
// eps otherwise), and so its gradient is orthogonal to it.
BOOST_AUTO_TEST_CASE(bn_preceded_weights_are_scale_invariant) {
  for (double eps : {0.0, 1e-5}) {
    std::mt19937_64 rng(21);
    auto net = random_net<fc_bn>(rng);
    net->layer<1>().eps = net->layer<4>().eps = net->layer<7>().eps = eps;
    auto x = random_input(8, 9, rng);
    const matrix<double> g = net->forward(x, mode::train);
    for (double a : {0.1, 2.0, 50.0}) {
      auto scaled = std::make_unique<fc_bn>(*net);
      scaled->layer<3>().weight().value *= a;
      const double tol = eps == 0 ? 1e-12 : 1e-3;
      BOOST_TEST(max_rel_diff(scaled->forward(x, mode::train), g) < tol);
    }
    if (eps == 0) {
      matrix<double> r = random_input(8, 1, rng);
      net->forward(x, mode::train);
      net->backward(r);
      for (auto* p : net->parameters()) {
        if (p->name == "layer10.weight") continue;  // the last layer is not followed by a BN
        const double dot = xt::sum(p->value * p->grad)();
        const double scale = std::sqrt(xt::sum(p->value * p->value)() * xt::sum(p->grad * p->grad)());
        BOOST_TEST_INFO(p->name);
        BOOST_TEST(std::abs(dot) < 1e-10 * scale);
      }
    }
  }
}

// Euler for degree 1: <W_L, d sum(r g)/dW_L> = sum(r g) for the last (factoring) layer.
BOOST_AUTO_TEST_CASE(euler_identity_for_factoring_layers) {
  std::mt19937_64 rng(31);
  auto net = random_net<fc_plain>(rng);
  auto x = random_input(4, 9, rng);
  matrix<double> r = random_input(4, 1, rng);
  const double loss = rt::linear_loss(net->forward(x, mode::train), r);
  net->backward(r);
  for (auto* p : net->parameters()) {
    const double dot = xt::sum(p->value * p->grad)();
    BOOST_TEST_INFO(p->name);
    BOOST_TEST(std::abs(dot - loss) < 1e-10 * std::abs(loss));
  }
}

// x = (0, 1, 5): mean 2, biased variance 14/3, std 2.1602469; xhat = (-0.9258201,
// -0.4629100, 1.3887301). With dy = (1, 0, 0): sum dy = 1, sum dy xhat = -0.9258201 and
// dx = (1/std)/3 (3 dy - 1 + 0.9258201 xhat) = 0.1543033 (1.1428571, -1.4285714, 0.2857143)
//    = (0.1763467, -0.2204334, 0.0440867).
// Running statistics after one step (momentum 0.1): mean 0.2, var 0.9 + 0.1 * 7 = 1.6.
BOOST_AUTO_TEST_CASE(batch_norm_hand_computed) {
  basic_network<double, input<1>, batch_norm<>> net;
  net.layer<0>().eps = 0;
  matrix<double> x = {{0.0}, {1.0}, {5.0}};
  const auto& y = net.forward(x, mode::train);
  BOOST_TEST(std::abs(y(0, 0) + 0.9258201) < 1e-7);
  BOOST_TEST(std::abs(y(1, 0) + 0.4629100) < 1e-7);
  BOOST_TEST(std::abs(y(2, 0) - 1.3887301) < 1e-7);
  matrix<double> dy = {{1.0}, {0.0}, {0.0}};
  net.backward(dy, true);
  BOOST_TEST(std::abs(net.input_grad()(0, 0) - 0.1763467) < 1e-7);
  BOOST_TEST(std::abs(net.input_grad()(1, 0) + 0.2204334) < 1e-7);
  BOOST_TEST(std::abs(net.input_grad()(2, 0) - 0.0440867) < 1e-7);
  BOOST_TEST(std::abs(net.layer<0>().running_mean()(0) - 0.2) < 1e-12);
  BOOST_TEST(std::abs(net.layer<0>().running_var()(0) - 1.6) < 1e-12);
  // Eval mode uses the running statistics: (5 - 0.2) / sqrt(1.6).
  matrix<double> x5 = {{5.0}};
  BOOST_TEST(std::abs(net.forward(x5, mode::eval)(0, 0) - 4.8 / std::sqrt(1.6)) < 1e-12);
}

BOOST_AUTO_TEST_CASE(rho_and_norm_product) {
  std::mt19937_64 rng(41);
  auto net = random_net<fc_bn>(rng);
  const auto norms = net->layer_norms();
  BOOST_TEST(norms.size() == 4u);
  BOOST_TEST(std::abs(net->rho() - norms[3]) < 1e-12);
  BOOST_TEST(std::abs(net->norm_product() - norms[0] * norms[1] * norms[2] * norms[3]) < 1e-12);
  BOOST_TEST((fc_bn::weight_layer_positions() == std::vector<std::size_t>{1, 4, 7, 10}));
  auto plain = random_net<fc_plain>(rng);
  BOOST_TEST(std::abs(plain->rho() - plain->norm_product()) < 1e-12);
}

BOOST_AUTO_TEST_CASE(shape_errors_at_run_time_are_clear) {
  fc_plain net;
  matrix<double> x = matrix<double>::from_shape({2, 8});
  BOOST_CHECK_EXCEPTION(net.forward(x, mode::train), std::invalid_argument, [](const std::invalid_argument& e) {
    return std::string(e.what()).find("expected input of 9 columns, got 8") != std::string::npos;
  });
}

// Train mode on one sample would normalise it to 0 and shift the running statistics: an
// error naming the layer and the fix, raised before any state changes; eval mode is fine,
// and so is a batch of two.
BOOST_AUTO_TEST_CASE(batch_norm_train_on_one_sample_is_an_error) {
  auto check = [](auto& net, const matrix<double>& one) {
    using Net = std::remove_cvref_t<decltype(net)>;
    const auto mean_before = net.template layer<1>().running_mean();
    BOOST_CHECK_EXCEPTION(net.forward(one, mode::train), std::invalid_argument,
                          [](const std::invalid_argument& e) {
                            const std::string m = e.what();
                            BOOST_TEST_INFO(m);
                            return m.find("layer 2") != std::string::npos &&
                                   m.find("batch of one") != std::string::npos &&
                                   m.find("mode::eval") != std::string::npos;
                          });
    BOOST_TEST(net.template layer<1>().running_mean() == mean_before);
    BOOST_TEST(net.forward(one, mode::eval).shape()[0] == 1u);
    matrix<double> two = matrix<double>::from_shape({2, Net::input_size});
    for (std::size_t i = 0; i < two.size(); ++i) two.data()[i] = double(i % 7) - 3;
    BOOST_TEST(net.forward(two, mode::train).shape()[0] == 2u);
  };
  basic_network<double, input<3>, dense<4>, batch_norm<>, relu, dense<1>> flat;
  check(flat, matrix<double>{{1.0, 2.0, 3.0}});
  // The fused batch_norm + relu path, on an image.
  basic_network<double, input<1, 3, 3>, conv2d<2, 3, 1, 1>, batch_norm<affine::scale>, relu, flatten, dense<1>> img;
  matrix<double> one = matrix<double>::from_shape({1, 9});
  for (std::size_t i = 0; i < 9; ++i) one.data()[i] = double(i);
  check(img, one);
}

// Pooling by hand: 1 x 4 x 4 input 0..15 with a tie and a NaN.
BOOST_AUTO_TEST_CASE(pooling_hand_computed) {
  matrix<double> x = matrix<double>::from_shape({1, 16});
  for (std::size_t i = 0; i < 16; ++i) x.data()[i] = double(i);
  basic_network<double, input<1, 4, 4>, max_pool2d<2>> mp;
  const matrix<double> m = mp.forward(x, mode::eval);
  BOOST_TEST((std::vector<double>(m.begin(), m.end()) == std::vector<double>{5, 7, 13, 15}));
  basic_network<double, input<1, 4, 4>, avg_pool2d<2>> ap;
  const matrix<double> a = ap.forward(x, mode::eval);
  BOOST_TEST((std::vector<double>(a.begin(), a.end()) == std::vector<double>{2.5, 4.5, 10.5, 12.5}));
  // Overlapping windows (stride 1, 3x3): 4 outputs; every gradient of 1 lands on a maximum.
  basic_network<double, input<1, 4, 4>, max_pool2d<3, 1>> ov;
  const matrix<double> o = ov.forward(x, mode::train);
  BOOST_TEST((std::vector<double>(o.begin(), o.end()) == std::vector<double>{10, 11, 14, 15}));
  matrix<double> ones = matrix<double>::from_shape({1, 4});
  ones.fill(1);
  ov.backward(ones, true);
  for (std::size_t i = 0; i < 16; ++i)
    BOOST_TEST(ov.input_grad().data()[i] == ((i == 10 || i == 11 || i == 14 || i == 15) ? 1.0 : 0.0));
  // A tie goes to the window's first element; a NaN is the maximum.
  x.fill(1);
  x.data()[6] = std::nan("");
  mp.forward(x, mode::train);
  matrix<double> dy = {{1, 2, 3, 4}};
  mp.backward(dy, true);
  BOOST_TEST(mp.output()(0, 0) == 1.0);
  BOOST_TEST(std::isnan(mp.output()(0, 1)));
  BOOST_TEST(mp.input_grad()(0, 0) == 1.0);  // first of the tied window {0, 1, 4, 5}
  BOOST_TEST(mp.input_grad()(0, 1) == 0.0);
  BOOST_TEST(mp.input_grad()(0, 6) == 2.0);  // the NaN
}

// Bias by hand: with W = 0 the output is the bias, per feature (dense) or per channel (conv).
BOOST_AUTO_TEST_CASE(bias_hand_computed) {
  basic_network<double, input<3>, dense<2, bias::on>> d;
  d.layer<0>().bias_param().value = {{1.0, -2.0}};
  const matrix<double> y = d.forward(matrix<double>{{1, 2, 3}, {4, 5, 6}}, mode::eval);
  BOOST_TEST((std::vector<double>(y.begin(), y.end()) == std::vector<double>{1, -2, 1, -2}));
  BOOST_TEST(d.layer<0>().bias_param().name == "layer1.bias");
  BOOST_TEST((d.layer<0>().bias_param().shape == std::vector<std::size_t>{2}));
  BOOST_TEST(d.signature() == "network<double,input<3>,dense<2,bias::on>>");
  basic_network<double, input<1, 3, 3>, conv2d<2, 3, 1, 1, bias::on>> c;
  c.layer<0>().bias_param().value = {{0.5, 3.0}};
  matrix<double> x = matrix<double>::from_shape({2, 9});
  x.fill(1);
  const matrix<double> z = c.forward(x, mode::eval);
  for (std::size_t s = 0; s < 2; ++s)
    for (std::size_t k = 0; k < 18; ++k) BOOST_TEST(z(s, k) == (k < 9 ? 0.5 : 3.0));
}

// dropout: eval is the identity; train zeroes about P of the entries and scales the rest by
// 1 / (1 - P); a seed fixes the masks; layers draw different masks; the RNG state travels.
BOOST_AUTO_TEST_CASE(dropout_semantics) {
  using Net = basic_network<double, input<1000>, dropout<0.3>, dropout<0.3>>;
  Net net;
  matrix<double> x = matrix<double>::from_shape({10, 1000});
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = 1.0 + double(i % 7);
  BOOST_TEST(net.forward(x, mode::eval) == x);
  seed_dropout(net, 5);
  const matrix<double> a = net.forward(x, mode::train);
  std::size_t zeros = 0, wrong = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double v = a.data()[i];
    if (v == 0) ++zeros;
    else if (std::abs(v - x.data()[i] / (0.7 * 0.7)) > 1e-12) ++wrong;  // kept twice: scaled twice
  }
  BOOST_TEST(wrong == 0u);
  const double kept = 1 - double(zeros) / double(a.size());
  BOOST_TEST(std::abs(kept - 0.49) < 0.02);  // 10000 draws: std 0.005
  // The same seed, the same masks; the state restores them.
  seed_dropout(net, 5);
  const std::string s0 = net.layer<0>().state(), s1 = net.layer<1>().state();
  BOOST_TEST(net.forward(x, mode::train) == a);
  Net other;
  other.layer<0>().restore_state(s0);
  other.layer<1>().restore_state(s1);
  BOOST_TEST(other.forward(x, mode::train) == a);
  BOOST_TEST(s0 != s1);  // two layers, two streams
  BOOST_CHECK_THROW(other.layer<0>().restore_state("nope"), std::invalid_argument);
  // Backward uses the forward mask.
  matrix<double> dy = matrix<double>::from_shape({10, 1000});
  dy.fill(1);
  other.backward(dy, true);
  wrong = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    wrong += std::abs(other.input_grad().data()[i] - (a.data()[i] == 0 ? 0.0 : 1 / (0.7 * 0.7))) > 1e-12;
  BOOST_TEST(wrong == 0u);
  BOOST_TEST(dropout<0.25>::name() == "dropout<0.25>");
}
