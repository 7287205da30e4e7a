// The observers against hand-built cases with known answers: equal margins, rho_eq of a
// linear model, quantiles and histograms, neural collapse (collapsed features, the binary
// closed form, the C x C form against an F x F pseudo-inverse), rho_bn by hand, the
// stationarity residual at a least-squares optimum, the CSV layout.
#define BOOST_TEST_MODULE rhonet_observe
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <rhonet/rhonet.hpp>
#include <rhonet/observe.hpp>

using namespace rhonet;

namespace {

// A binary data set from rows of x and labels +-1, with one (+-1) or two (one-hot) outputs.
template <class T>
dataset<T> make_set(const std::vector<std::vector<double>>& x, const std::vector<double>& y,
                    std::size_t outputs = 1) {
  dataset<T> d;
  const std::size_t N = x.size(), D = x[0].size();
  d.x = matrix<T>::from_shape({N, D});
  d.target = matrix<T>::from_shape({N, outputs});
  d.target.fill(T(0));
  d.classes = 2;
  d.channels = 1;
  d.height = 1;
  d.width = D;
  for (std::size_t n = 0; n < N; ++n) {
    for (std::size_t i = 0; i < D; ++i) d.x(n, i) = T(x[n][i]);
    d.label.push_back(y[n] > 0 ? 0 : 1);
    if (outputs == 1) d.target(n, 0) = T(y[n]);
    else d.target(n, y[n] > 0 ? 0 : 1) = T(1);
  }
  return d;
}

template <class T>
dataset<T> random_set(std::size_t N, std::size_t D, std::mt19937_64& rng, std::size_t outputs = 1) {
  std::normal_distribution<double> g;
  std::vector<std::vector<double>> x(N, std::vector<double>(D));
  std::vector<double> y(N);
  for (std::size_t n = 0; n < N; ++n) {
    y[n] = n % 2 == 0 ? 1.0 : -1.0;
    for (auto& v : x[n]) v = g(rng) + 0.5 * y[n];
  }
  return make_set<T>(x, y, outputs);
}

template <class Net>
void set_weight(Net& net, const std::vector<std::vector<double>>& w) {
  auto& p = net.template layer<Net::layer_count - 1>().weight().value;
  for (std::size_t i = 0; i < w.size(); ++i)
    for (std::size_t j = 0; j < w[i].size(); ++j) p(i, j) = w[i][j];
}

template <class Net>
void randomize(Net& net, std::mt19937_64& rng) {
  std::normal_distribution<double> g(0.0, 0.5);
  for (auto* p : net.parameters())
    for (auto& v : p->value) v = typename Net::value_type(g(rng));
}

std::size_t columns(const std::string& line) { return std::size_t(std::count(line.begin(), line.end(), ',')) + 1; }

// Solves the n x n system a x = b (Gaussian elimination with partial pivoting).
std::vector<double> solve(std::vector<double> a, std::vector<double> b) {
  const std::size_t n = b.size();
  for (std::size_t k = 0; k < n; ++k) {
    std::size_t p = k;
    for (std::size_t i = k + 1; i < n; ++i)
      if (std::abs(a[i * n + k]) > std::abs(a[p * n + k])) p = i;
    for (std::size_t j = 0; j < n; ++j) std::swap(a[k * n + j], a[p * n + j]);
    std::swap(b[k], b[p]);
    for (std::size_t i = k + 1; i < n; ++i) {
      const double m = a[i * n + k] / a[k * n + k];
      for (std::size_t j = k; j < n; ++j) a[i * n + j] -= m * a[k * n + j];
      b[i] -= m * b[k];
    }
  }
  std::vector<double> x(n);
  for (std::size_t i = n; i-- > 0;) {
    double s = b[i];
    for (std::size_t j = i + 1; j < n; ++j) s -= a[i * n + j] * x[j];
    x[i] = s / a[i * n + i];
  }
  return x;
}

using linear3 = basic_network<double, input<3>, dense<1>>;

}  // namespace

BOOST_AUTO_TEST_CASE(equal_margins_give_zero_spread) {
  // w = (1, 2, 2), ||w|| = 3; x_n = y_n (1.5, 0, 0) + t_n (0, 1, -1) (orthogonal to w):
  // g_n = 1.5 y_n, f_n = 0.5 y_n, every margin 0.5, rho * margin = 1.5.
  linear3 net;
  set_weight(net, {{1, 2, 2}});
  std::vector<std::vector<double>> x;
  std::vector<double> y;
  for (int n = 0; n < 6; ++n) {
    const double yn = n % 2 ? -1 : 1, t = 0.3 * n - 0.7;
    x.push_back({1.5 * yn, t, -t});
    y.push_back(yn);
  }
  const auto d = make_set<double>(x, y);
  const observation o = observe(net, d, d, 0.5);
  BOOST_TEST(o.rho == 3.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(o.margin_min == 0.5, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(o.margin_mean == 0.5, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(std::abs(o.margin_std) < 1e-12);
  BOOST_TEST(std::abs(o.margin_cv) < 1e-12);
  BOOST_TEST(o.rho_margin_mean == 1.5, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(o.sum_yf == 3.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(o.sum_f2 == 1.5, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(o.rho_eq == 1.5, boost::test_tools::tolerance(1e-12));  // 3 / (0.5 + 1.5)
  BOOST_TEST(o.rho_eq0 == 2.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(o.train_loss == 0.25, boost::test_tools::tolerance(1e-12));  // (1.5 - 1)^2
  BOOST_TEST(o.train_error == 0.0);
  BOOST_TEST(o.norm_ratio == 1.0);
  BOOST_TEST(o.margin_quantiles.front() == 0.5, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(o.margin_quantiles.back() == 0.5, boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(rho_eq_of_a_linear_model) {
  // w = (3, 4), rho = 5. x = (1,0) y=+1: f = 0.6; (0,1) y=-1: f = 0.8; (1,1) y=+1: f = 1.4.
  // sum y f = 1.2, sum f^2 = 2.96.
  basic_network<double, input<2>, dense<1>> net;
  set_weight(net, {{3, 4}});
  const auto d = make_set<double>({{1, 0}, {0, 1}, {1, 1}}, {1, -1, 1});
  evaluator<double> ev(2);
  const auto& e = ev.run(net, d);
  BOOST_TEST(e.rho == 5.0, boost::test_tools::tolerance(1e-12));
  const auto m = observe_margins(e.y, e.f, e.rho, 0.04);
  BOOST_TEST(m.sum_yf == 1.2, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(m.sum_f2 == 2.96, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(m.rho_eq == 0.4, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(m.rho_eq0 == 1.2 / 2.96, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(m.mean_abs_f == 2.8 / 3, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(m.min == -0.8, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(e.error == 1.0 / 3, boost::test_tools::tolerance(1e-12));
  // (3-1)^2 + (4+1)^2 + (7-1)^2 = 65, mean 65/3
  BOOST_TEST(e.loss == 65.0 / 3, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(sum_form_lambda(0.01, 12000) == 60.0, boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(quantiles_and_histogram_of_a_known_list) {
  const std::vector<double> v{3, 1, 5, 2, 4};
  const std::vector<double> p{0, 0.1, 0.25, 0.5, 0.9, 1};
  const auto q = quantiles(v, p);
  const std::vector<double> want{1, 1.4, 2, 3, 4.6, 5};
  for (std::size_t i = 0; i < q.size(); ++i) BOOST_TEST(q[i] == want[i], boost::test_tools::tolerance(1e-12));
  const std::vector<double> ones(5, 1.0);
  const auto m = observe_margins(ones, v, 2.0, 0.0);
  BOOST_TEST(m.quantiles[0] == 1.0);
  BOOST_TEST(m.quantiles[10] == 1.4, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(m.quantiles[50] == 3.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(m.quantiles[100] == 5.0);
  BOOST_TEST(m.stddev == std::sqrt(2.0), boost::test_tools::tolerance(1e-12));
  BOOST_TEST(m.cv == std::sqrt(2.0) / 3, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(m.rho_margin_mean == 6.0, boost::test_tools::tolerance(1e-12));
  const auto h = make_histogram(v, 2, 1, 5);
  BOOST_TEST(h.counts[0] == 2u);
  BOOST_TEST(h.counts[1] == 3u);
  const auto h2 = make_histogram(v, 4, 2, 4);
  BOOST_TEST(h2.below == 1u);
  BOOST_TEST(h2.above == 1u);
}

BOOST_AUTO_TEST_CASE(collapsed_features_give_zero_nc) {
  // x_+ = (1,0,0) -> h = (1,0,0,0), x_- = (0,1,0) -> h = (0,1,0,0); w = (1,-1,0,0).
  basic_network<double, input<3>, dense<4>, relu, dense<1>> net;
  auto& w1 = net.layer<0>().weight().value;
  w1.fill(0);
  w1(0, 0) = 1;
  w1(1, 1) = 1;
  set_weight(net, {{1, -1, 0, 0}});
  std::vector<std::vector<double>> x;
  std::vector<double> y;
  for (int n = 0; n < 8; ++n) {
    y.push_back(n < 5 ? 1 : -1);  // unbalanced on purpose
    x.push_back(n < 5 ? std::vector<double>{1, 0, 0} : std::vector<double>{0, 1, 0});
  }
  const auto d = make_set<double>(x, y);
  const observation o = observe(net, d, d, 0.0);
  BOOST_TEST(std::abs(o.nc1) < 1e-14);
  BOOST_TEST(o.nc4 == 0.0);
  BOOST_TEST(std::abs(o.nc3) < 1e-14);
  BOOST_TEST(o.residual == 0.0);  // an exact interpolant
  BOOST_TEST(o.train_error == 0.0);
  BOOST_TEST(o.margin_cv == 0.0, boost::test_tools::tolerance(1e-12));
  // The same features with a classifier that disagrees: nc4 = 1, nc3 = 2.
  const std::vector<double> wrong{-1, 1, 0, 0};
  const auto& e = evaluate(net, d);
  std::vector<double> neg(e.score.size());
  for (std::size_t n = 0; n < neg.size(); ++n) neg[n] = -e.score[n];
  const auto nc = neural_collapse_binary(e.features, e.y, wrong, neg);
  BOOST_TEST(nc.nc4 == 1.0);
  BOOST_TEST(nc.nc3 == 2.0, boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(nc1_matches_the_binary_closed_form) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> g;
  const std::size_t N = 60, F = 7;
  matrix<double> h = matrix<double>::from_shape({N, F});
  std::vector<double> y(N);
  for (std::size_t n = 0; n < N; ++n) {
    y[n] = n % 2 ? -1 : 1;
    for (std::size_t i = 0; i < F; ++i) h(n, i) = g(rng) + (i < 2 ? 0.8 * y[n] : 0.0);
  }
  // Closed form: D = mu_+ - mu_-, Sigma_W = (1/N) sum (h - mu_c)(h - mu_c)^T.
  std::vector<double> mp(F, 0), mm(F, 0);
  for (std::size_t n = 0; n < N; ++n)
    for (std::size_t i = 0; i < F; ++i) (y[n] > 0 ? mp : mm)[i] += h(n, i) / (N / 2);
  std::vector<double> D(F);
  double dd = 0;
  for (std::size_t i = 0; i < F; ++i) dd += (D[i] = mp[i] - mm[i]) * D[i];
  double dsd = 0;
  for (std::size_t n = 0; n < N; ++n) {
    double p = 0;
    for (std::size_t i = 0; i < F; ++i) p += (h(n, i) - (y[n] > 0 ? mp : mm)[i]) * D[i];
    dsd += p * p / N;
  }
  const double closed = 2 * dsd / (dd * dd);
  const auto nc = neural_collapse_binary(h, y);
  BOOST_TEST(nc.nc1 == closed, boost::test_tools::tolerance(1e-10));
  BOOST_TEST(nc.nc1 > 0.01);
  BOOST_TEST(std::abs(nc.nc2) < 1e-12);     // equal distances to mu_G for C = 2
  BOOST_TEST(std::abs(nc.nc2_cos) < 1e-12);
  BOOST_TEST(std::isnan(nc.nc3));           // no classifier given
  BOOST_TEST(std::isnan(nc.nc4));           // no scores given
}

BOOST_AUTO_TEST_CASE(nc1_in_class_space_matches_the_feature_space_pseudo_inverse) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> g;
  const std::size_t N = 90, F = 5, C = 3;
  matrix<double> h = matrix<double>::from_shape({N, F});
  std::vector<int> cls(N);
  for (std::size_t n = 0; n < N; ++n) {
    cls[n] = int(n % C);
    for (std::size_t i = 0; i < F; ++i) h(n, i) = g(rng) + (i == std::size_t(cls[n]) ? 2.0 : 0.0);
  }
  std::vector<double> mu(C * F, 0), muG(F, 0);
  for (std::size_t n = 0; n < N; ++n)
    for (std::size_t i = 0; i < F; ++i) mu[cls[n] * F + i] += h(n, i) / (N / C);
  for (std::size_t c = 0; c < C; ++c)
    for (std::size_t i = 0; i < F; ++i) muG[i] += mu[c * F + i] / C;
  std::vector<double> SW(F * F, 0), SB(F * F, 0);
  for (std::size_t n = 0; n < N; ++n)
    for (std::size_t i = 0; i < F; ++i)
      for (std::size_t j = 0; j < F; ++j)
        SW[i * F + j] += (h(n, i) - mu[cls[n] * F + i]) * (h(n, j) - mu[cls[n] * F + j]) / N;
  for (std::size_t c = 0; c < C; ++c)
    for (std::size_t i = 0; i < F; ++i)
      for (std::size_t j = 0; j < F; ++j)
        SB[i * F + j] += (mu[c * F + i] - muG[i]) * (mu[c * F + j] - muG[j]) / C;
  const auto SBp = detail::symmetric_pinv(SB, F);
  double tr = 0;
  for (std::size_t i = 0; i < F; ++i)
    for (std::size_t j = 0; j < F; ++j) tr += SW[i * F + j] * SBp[j * F + i];
  std::vector<int> dec(N, 0);
  const auto nc = neural_collapse(h, cls, C, dec);
  BOOST_TEST(nc.nc1 == tr / C, boost::test_tools::tolerance(1e-8));
  BOOST_TEST(nc.nc4 == 2.0 / 3, boost::test_tools::tolerance(0.2));  // most samples are nearest their own mean
  // A classifier equal to M has nc3 = 0.
  std::vector<double> W(C * F);
  for (std::size_t c = 0; c < C; ++c)
    for (std::size_t i = 0; i < F; ++i) W[c * F + i] = 3 * (mu[c * F + i] - muG[i]);
  BOOST_TEST(std::abs(neural_collapse(h, cls, C, {}, W).nc3) < 1e-12);
}

BOOST_AUTO_TEST_CASE(rho_bn_by_hand) {
  basic_network<double, input<2>, dense<3>, batch_norm<>, relu, dense<1>> net;
  auto& w1 = net.layer<0>().weight().value;
  w1(0, 0) = 1; w1(0, 1) = 2; w1(1, 0) = -2; w1(1, 1) = 0; w1(2, 0) = 0; w1(2, 1) = 4;  // ||W1|| = 5
  set_weight(net, {{2, -1, 2}});                                                       // ||W2|| = 3
  net.layer<1>().eps = 0;
  for (auto* b : net.buffers())
    if (b->name == "layer2.running_var") b->value = {1.0, 4.0, 11.0};
  const auto n = observe_norms(net);
  BOOST_TEST(n.layer.size() == 2u);
  BOOST_TEST(n.rho == 3.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(n.rho_all == 15.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(n.rho_bn == 15.0 * std::sqrt(3.0) / 4.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(n.ratio == 5.0 / 3.0, boost::test_tools::tolerance(1e-12));

  // Affine scale: ||sqrt(gamma)|| = sqrt(sum gamma); gamma also joins the layer norms.
  basic_network<double, input<2>, dense<3>, batch_norm<affine::scale>, relu, dense<1>> net2;
  net2.layer<0>().weight().value = w1;
  set_weight(net2, {{2, -1, 2}});
  net2.layer<1>().eps = 0;
  net2.layer<1>().gamma().value(0, 0) = 1;
  net2.layer<1>().gamma().value(0, 1) = 2;
  net2.layer<1>().gamma().value(0, 2) = 6;
  for (auto* b : net2.buffers())
    if (b->name == "layer2.running_var") b->value = {1.0, 4.0, 11.0};
  const auto n2 = observe_norms(net2);
  BOOST_TEST(n2.layer.size() == 3u);
  BOOST_TEST(n2.layer[1] == std::sqrt(41.0), boost::test_tools::tolerance(1e-12));
  BOOST_TEST(n2.rho_bn == 15.0 * 3.0 / 4.0, boost::test_tools::tolerance(1e-12));
  // No BN: rho_bn = rho_all.
  linear3 lin;
  set_weight(lin, {{1, 2, 2}});
  const auto n3 = observe_norms(lin);
  BOOST_TEST(n3.rho_bn == n3.rho_all, boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(residual_vanishes_at_the_least_squares_optimum) {
  std::mt19937_64 rng(3);
  const auto d = random_set<double>(40, 3, rng);
  // Normal equations X^T X w = X^T y.
  std::vector<double> a(9, 0), b(3, 0);
  for (std::size_t n = 0; n < 40; ++n)
    for (std::size_t i = 0; i < 3; ++i) {
      b[i] += d.x(n, i) * d.target(n, 0);
      for (std::size_t j = 0; j < 3; ++j) a[i * 3 + j] += d.x(n, i) * d.x(n, j);
    }
  const auto w = solve(a, b);
  linear3 net;
  set_weight(net, {w});
  const observation o = observe(net, d, d, 0.0);
  BOOST_TEST(o.residual < 1e-6);
  BOOST_TEST(o.residual >= 0.0);
  // With weight decay lambda the stationary point is ridge regression, (X^T X + lambda I) w =
  // X^T y: the decay acts along w and the direction residual vanishes there too.
  const double lambda = 7.5;
  for (std::size_t i = 0; i < 3; ++i) a[i * 3 + i] += lambda;
  const auto wr = solve(a, b);
  set_weight(net, {wr});
  BOOST_TEST(observe(net, d, d, lambda).residual < 1e-6);
  // ... but not at another scale of the least-squares w (the condition involves rho).
  set_weight(net, {{2 * w[0], 2 * w[1], 2 * w[2]}});
  BOOST_TEST(observe(net, d, d, 0.0).residual > 1e-3);
  // Rotate w: clearly nonzero, and at most 1.
  set_weight(net, {{w[0] + 0.5, w[1] - 0.3, w[2]}});
  const double r = observe(net, d, d, 0.0).residual;
  BOOST_TEST(r > 1e-2);
  BOOST_TEST(r <= 1.0);
}

BOOST_AUTO_TEST_CASE(evaluator_chunks_labels_and_two_outputs) {
  std::mt19937_64 rng(5);
  using net2_t = basic_network<double, input<4>, dense<5>, relu, dense<2>>;
  net2_t net;
  randomize(net, rng);
  const auto d = random_set<double>(23, 4, rng, 2);
  evaluator<double> small(4), big;
  const auto& a = small.run(net, d);
  const auto& b = big.run(net, d);
  BOOST_TEST(a.size() == 23u);
  BOOST_TEST(a.features.shape()[1] == 5u);
  for (std::size_t n = 0; n < 23; ++n) {
    BOOST_TEST(a.score[n] == b.score[n], boost::test_tools::tolerance(1e-12));
    BOOST_TEST(a.score[n] == a.output(n, 0) - a.output(n, 1), boost::test_tools::tolerance(1e-12));
    BOOST_TEST(a.y[n] == (n % 2 == 0 ? 1.0 : -1.0));
    BOOST_TEST(a.f[n] == a.score[n] / a.rho, boost::test_tools::tolerance(1e-12));
    for (std::size_t i = 0; i < 5; ++i) BOOST_TEST(a.features(n, i) == b.features(n, i), boost::test_tools::tolerance(1e-12));
  }
  BOOST_TEST(a.loss == b.loss, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(a.error == b.error);
  // h is the input of the last layer: the output is W_2 h.
  const auto& w2 = net.layer<2>().weight().value;
  for (std::size_t n = 0; n < 23; ++n) {
    double s = 0;
    for (std::size_t i = 0; i < 5; ++i) s += (w2(0, i) - w2(1, i)) * a.features(n, i);
    BOOST_TEST(s == a.score[n], boost::test_tools::tolerance(1e-12));
  }
  // Repeated runs reuse the buffers.
  const double* p = small.result().output.data();
  const double* q = small.result().features.data();
  small.run(net, d);
  BOOST_TEST(small.result().output.data() == p);
  BOOST_TEST(small.result().features.data() == q);
  // The classifier rows of the two outputs, as the model interface gives them (observe
  // takes W_0 - W_1 as the binary classifier).
  const auto rows = make_model(net).last_layer_rows();
  BOOST_TEST(rows.size() == 10u);
  BOOST_TEST(rows[2] - rows[5 + 2] == w2(0, 2) - w2(1, 2), boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(conv_and_bn_networks_in_float) {
  std::mt19937_64 rng(9);
  using conv_t = basic_network<float, input<1, 4, 4>, conv2d<2, 3, 2, 1>, batch_norm<>, relu, conv2d<1, 2, 1, 0>>;
  conv_t net;
  randomize(net, rng);
  const auto train = random_set<float>(30, 16, rng);
  const auto test = random_set<float>(12, 16, rng);
  BOOST_TEST(make_model(net).last_layer_rows().size() == 8u);  // the last conv covers its whole input
  observer_buffers<float> buf;
  const observation o = observe(net, train, test, sum_form_lambda(0.01, 30), buf);
  BOOST_TEST(std::isfinite(o.rho));
  BOOST_TEST(std::isfinite(o.rho_bn));
  BOOST_TEST(std::isfinite(o.nc1));
  BOOST_TEST(std::isfinite(o.nc3));
  BOOST_TEST(std::isfinite(o.residual));
  BOOST_TEST(o.norms.size() == 2u);
  BOOST_TEST(o.rho == o.norms[1], boost::test_tools::tolerance(1e-6));
  // g = rho f: the score of the first sample equals rho times f.
  const auto& e = buf.train.result();
  BOOST_TEST(e.score[0] == o.rho * e.f[0], boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(csv_header_and_row_agree) {
  std::mt19937_64 rng(1);
  using fc_t = basic_network<double, input<4>, dense<6>, relu, dense<5>, relu, dense<1>>;
  fc_t net;
  randomize(net, rng);
  const auto d = random_set<double>(20, 4, rng);
  observation o = observe(net, d, d, 0.1);
  o.epoch = 1.5;
  o.iter = 12;
  o.lr = 0.1;
  o.seconds = 0.25;
  const std::string header = observation::csv_header(fc_t::weight_layer_count);
  const std::string row = o.csv_row();
  BOOST_TEST(observation_columns().size() == 28u);
  BOOST_TEST(columns(header) == observation_columns().size() + 3u);
  BOOST_TEST(columns(row) == columns(header));
  BOOST_TEST(header.rfind("epoch,iter,lr,train_loss,train_error,test_loss,test_error,rho,rho_all,rho_bn,", 0) == 0u);
  BOOST_TEST(header.substr(header.size() - 37) == "residual,seconds,norm_1,norm_2,norm_3");
  BOOST_TEST(row.rfind("1.5,12,0.1,", 0) == 0u);
  const std::string mh = observation::margins_csv_header(), mr = o.margins_csv_row();
  BOOST_TEST(columns(mh) == 103u);
  BOOST_TEST(columns(mr) == 103u);
  BOOST_TEST(mh.substr(0, 20) == "epoch,iter,q000,q001");
  BOOST_TEST(mh.substr(mh.size() - 4) == "q100");
  // Full precision round trip.
  std::istringstream in(row);
  std::string first;
  std::getline(in, first, ',');
  std::getline(in, first, ',');
  std::getline(in, first, ',');
  std::getline(in, first, ',');
  BOOST_TEST(std::stod(first) == o.train_loss, boost::test_tools::tolerance(1e-8));
}

// NC1 uses the global mean (Papyan et al.): for two unbalanced classes with fractions a, b,
// NC1 = D^T Sigma_W D / ((a^2 + b^2) ||D||^4), which is 2 D^T Sigma_W D / ||D||^4 only when
// a = b; and NC2 (equal norms of mu_c - mu_G) is then no longer 0.
BOOST_AUTO_TEST_CASE(nc_uses_the_global_mean_for_unbalanced_classes) {
  std::mt19937_64 rng(17);
  std::normal_distribution<double> g;
  const std::size_t N = 80, F = 6, Np = 60;
  matrix<double> h = matrix<double>::from_shape({N, F});
  std::vector<double> y(N);
  for (std::size_t n = 0; n < N; ++n) {
    y[n] = n < Np ? 1 : -1;
    for (std::size_t i = 0; i < F; ++i) h(n, i) = g(rng) + (i == 0 ? 1.5 * y[n] : 0.0);
  }
  std::vector<double> mp(F, 0), mm(F, 0);
  for (std::size_t n = 0; n < N; ++n)
    for (std::size_t i = 0; i < F; ++i) (y[n] > 0 ? mp : mm)[i] += h(n, i) / double(y[n] > 0 ? Np : N - Np);
  std::vector<double> D(F);
  double dd = 0;
  for (std::size_t i = 0; i < F; ++i) dd += (D[i] = mp[i] - mm[i]) * D[i];
  double dsd = 0;
  for (std::size_t n = 0; n < N; ++n) {
    double p = 0;
    for (std::size_t i = 0; i < F; ++i) p += (h(n, i) - (y[n] > 0 ? mp : mm)[i]) * D[i];
    dsd += p * p / double(N);
  }
  const double a = double(N - Np) / double(N), b = double(Np) / double(N);
  const auto nc = neural_collapse_binary(h, y);
  BOOST_TEST(nc.nc1 == dsd / ((a * a + b * b) * dd * dd), boost::test_tools::tolerance(1e-10));
  BOOST_TEST(std::abs(nc.nc1 - 2 * dsd / (dd * dd)) > 0.01 * nc.nc1);  // not the balanced formula
  BOOST_TEST(nc.nc2 > 0.1);  // ||mu_+ - mu_G|| = a ||D||, ||mu_- - mu_G|| = b ||D||
}
