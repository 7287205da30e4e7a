// One gradient checker for the layer contract, run on every layer type: for a network in double
// precision and the loss L = sum(R .* g(x)) with a fixed random R, compares every
// parameter gradient and the input gradient with central differences.
#pragma once

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <rhonet/network.hpp>

namespace rhonet::testing {

template <class T>
void fill_normal(matrix<T>& m, std::mt19937_64& rng, T scale = T(1)) {
  std::normal_distribution<T> n(T(0), scale);
  for (auto& v : m) v = n(rng);
}

template <class Net>
void randomize(Net& net, std::mt19937_64& rng, double scale = 0.5) {
  for (auto* p : net.parameters()) fill_normal<typename Net::value_type>(p->value, rng, scale);
}

template <class T>
T linear_loss(const matrix<T>& out, const matrix<T>& r) {
  T s = 0;
  for (std::size_t i = 0; i < out.size(); ++i) s += out.data()[i] * r.data()[i];
  return s;
}

// ||a - n|| / max(||a||, ||n||): robust where single entries are near zero.
inline double relative_error(const std::vector<double>& a, const std::vector<double>& n) {
  double d = 0, na = 0, nn = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    d += (a[i] - n[i]) * (a[i] - n[i]);
    na += a[i] * a[i];
    nn += n[i] * n[i];
  }
  const double denom = std::max(std::sqrt(std::max(na, nn)), 1e-300);
  return std::sqrt(d) / denom;
}

// Checks d/dtheta sum(R .* g(x)) for every parameter and for x, in the given mode.
// before_forward runs before every forward pass (e.g. to reseed dropout, so that every pass
// draws the same mask).
template <class Net>
void check_gradients(Net& net, matrix<double>& x, std::mt19937_64& rng, mode m = mode::train,
                     double tolerance = 1e-6, double h = 1e-5,
                     const std::function<void()>& before_forward = [] {}) {
  static_assert(std::is_same_v<typename Net::value_type, double>, "gradient checks run in double");
  const std::size_t batch = x.shape()[0];
  matrix<double> r = matrix<double>::from_shape({batch, Net::output_size});
  fill_normal(r, rng);
  before_forward();
  net.forward(x, m);
  net.backward(r, true);

  auto numeric = [&](double& slot) {
    const double keep = slot;
    slot = keep + h;
    before_forward();
    const double up = linear_loss(net.forward(x, m), r);
    slot = keep - h;
    before_forward();
    const double down = linear_loss(net.forward(x, m), r);
    slot = keep;
    return (up - down) / (2 * h);
  };

  for (auto* p : net.parameters()) {
    std::vector<double> analytic(p->grad.begin(), p->grad.end()), num;
    for (auto& v : p->value) num.push_back(numeric(v));
    const double err = relative_error(analytic, num);
    BOOST_TEST_INFO(Net::signature() << " parameter " << p->name);
    BOOST_CHECK_LT(err, tolerance);
  }
  // Recompute at the unperturbed point: the loop above left the network at x.
  before_forward();
  net.forward(x, m);
  net.backward(r, true);
  std::vector<double> analytic(net.input_grad().begin(), net.input_grad().end()), num;
  for (auto& v : x) num.push_back(numeric(v));
  BOOST_TEST_INFO(Net::signature() << " input gradient");
  BOOST_CHECK_LT(relative_error(analytic, num), tolerance);
}

}  // namespace rhonet::testing
