// A user adds layers from outside the library, following the contract in
// rhonet/layers/layer.hpp: `absolute` (parameter-free, degree 1 in its input) and `diagonal`
// (y = x * w elementwise, a weight of degree 1; its norm is a rho_k). The network binds them,
// fuses nothing it should not, computes exact gradients, and the compile-time analysis gives
// the right flags, checked against measurement.
#define BOOST_TEST_MODULE rhonet_user_layer
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <memory>
#include <random>

#include <rhonet/architectures.hpp>
#include <rhonet/core/parameter.hpp>
#include <rhonet/layers/layer.hpp>
#include <rhonet/model.hpp>

#include "support/gradcheck.hpp"

namespace user {

template <class T, std::size_t Position, class In>
class absolute_layer : public rhonet::parameter_free_layer {
 public:
  using value_type = T;
  using in_shape = In;
  using out_shape = In;
  void forward(const rhonet::matrix<T>& x, rhonet::matrix<T>& y, rhonet::mode) {
    for (std::size_t i = 0; i < x.size(); ++i) y.data()[i] = std::abs(x.data()[i]);
  }
  void backward(const rhonet::matrix<T>& x, const rhonet::matrix<T>&, const rhonet::matrix<T>& dy,
                rhonet::matrix<T>* dx) {
    if (!dx) return;
    for (std::size_t i = 0; i < x.size(); ++i)
      dx->data()[i] = x.data()[i] > T(0) ? dy.data()[i] : x.data()[i] < T(0) ? -dy.data()[i] : T(0);
  }
};

struct absolute : rhonet::parameter_free_layer {
  using spec_tag = rhonet::layer_spec_tag;
  static std::string name() { return "absolute"; }
  template <class T, std::size_t Position, class In>
  using bind = absolute_layer<T, Position, In>;
};

template <class T, std::size_t Position, class In>
class diagonal_layer {
 public:
  using value_type = T;
  using in_shape = In;
  using out_shape = In;
  static constexpr int input_degree = 1;
  static constexpr bool has_weights = true;
  static constexpr int weight_degree = 1;

  diagonal_layer()
      : w_("layer" + std::to_string(Position) + ".weight", rhonet::param_role::weight, {In::size}, 1, In::size) {
    w_.value.fill(T(1));
  }
  void resize(std::size_t) {}
  void forward(const rhonet::matrix<T>& x, rhonet::matrix<T>& y, rhonet::mode) {
    const std::size_t n = x.shape()[0], d = In::size;
    for (std::size_t r = 0; r < n; ++r)
      for (std::size_t j = 0; j < d; ++j) y(r, j) = x(r, j) * w_.value(0, j);
  }
  void backward(const rhonet::matrix<T>& x, const rhonet::matrix<T>&, const rhonet::matrix<T>& dy,
                rhonet::matrix<T>* dx) {
    const std::size_t n = x.shape()[0], d = In::size;
    for (std::size_t j = 0; j < d; ++j) {
      T s = 0;
      for (std::size_t r = 0; r < n; ++r) s += dy(r, j) * x(r, j);
      w_.grad(0, j) = s;
    }
    if (dx)
      for (std::size_t r = 0; r < n; ++r)
        for (std::size_t j = 0; j < d; ++j) (*dx)(r, j) = dy(r, j) * w_.value(0, j);
  }
  rhonet::parameter<T>& weight() { return w_; }
  const rhonet::parameter<T>& weight() const { return w_; }
  template <class F> void for_each_param(F&& f) { f(w_); }
  template <class F> void for_each_buffer(F&&) {}

 private:
  rhonet::parameter<T> w_;
};

struct diagonal {
  using spec_tag = rhonet::layer_spec_tag;
  static constexpr int input_degree = 1;
  static constexpr bool has_weights = true;
  static constexpr int weight_degree = 1;
  static std::string name() { return "diagonal"; }
  template <class T, std::size_t Position, class In>
  using bind = diagonal_layer<T, Position, In>;
};

}  // namespace user

using namespace rhonet;

using plain = basic_network<double, input<5>, dense<4>, user::absolute, user::diagonal, dense<2>>;
using with_bn = basic_network<double, input<5>, user::diagonal, dense<4>, batch_norm<>, user::absolute, dense<1>>;

static_assert(layer_spec<user::absolute> && layer_spec<user::diagonal>);
static_assert(bound_layer<plain::layer_type<1>> && bound_layer<plain::layer_type<2>>);
static_assert(has_norm<plain::layer_type<2>> && !fuses_relu<plain::layer_type<2>>);
static_assert(plain::weight_layer_count == 3 && plain::factoring_layer_count == 3);
static_assert(plain::degree_in_input == 1);
// A diagonal or dense layer before the batch norm is scale-invariant; the last dense factors out.
static_assert(with_bn::homogeneity.scale_invariant(0) && with_bn::homogeneity.scale_invariant(1));
static_assert(with_bn::factoring_layer_count == 1 && with_bn::homogeneity.factors_out(4));
static_assert(with_bn::degree_in_input == 0);

BOOST_AUTO_TEST_CASE(signature_names_user_layers) {
  BOOST_TEST(plain::signature() == "network<double,input<5>,dense<4>,absolute,diagonal,dense<2>>");
}

BOOST_AUTO_TEST_CASE(user_layers_have_exact_gradients) {
  std::mt19937_64 rng(3);
  auto a = std::make_unique<plain>();
  rhonet::testing::randomize(*a, rng, 0.7);
  matrix<double> x = matrix<double>::from_shape({6, 5});
  rhonet::testing::fill_normal(x, rng);
  rhonet::testing::check_gradients(*a, x, rng, mode::train);
  auto b = std::make_unique<with_bn>();
  rhonet::testing::randomize(*b, rng, 0.7);
  rhonet::testing::check_gradients(*b, x, rng, mode::train);
}

// Scaling the diagonal weight by 3 scales a plain net's output by 3 (degree 1) and leaves the
// BN net's output unchanged (degree 0, eps = 0), as the analysis says; so does the input.
BOOST_AUTO_TEST_CASE(user_layer_degrees_match_measurement) {
  std::mt19937_64 rng(5);
  matrix<double> x = matrix<double>::from_shape({8, 5});
  rhonet::testing::fill_normal(x, rng);
  auto rel = [](const matrix<double>& a, const matrix<double>& b, double k) {
    double d = 0, n = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
      d += (a.data()[i] - k * b.data()[i]) * (a.data()[i] - k * b.data()[i]);
      n += k * k * b.data()[i] * b.data()[i];
    }
    return std::sqrt(d / n);
  };
  auto p = std::make_unique<plain>();
  rhonet::testing::randomize(*p, rng, 0.7);
  const matrix<double> g = p->forward(x, mode::train);
  auto p3 = std::make_unique<plain>(*p);
  p3->layer<2>().weight().value *= 3.0;
  BOOST_TEST(rel(p3->forward(x, mode::train), g, 3.0) < 1e-12);
  matrix<double> x3 = 3.0 * x;
  BOOST_TEST(rel(p->forward(x3, mode::train), g, 3.0) < 1e-12);

  auto b = std::make_unique<with_bn>();
  rhonet::testing::randomize(*b, rng, 0.7);
  b->layer<2>().eps = 0;
  const matrix<double> gb = b->forward(x, mode::train);
  auto b3 = std::make_unique<with_bn>(*b);
  b3->layer<0>().weight().value *= 3.0;
  BOOST_TEST(rel(b3->forward(x, mode::train), gb, 1.0) < 1e-12);
  // Through the model interface, the same flags.
  model_of<with_bn> m(*b);
  BOOST_TEST((m.scale_invariant_layers() == std::vector<std::size_t>{1, 2}));
  BOOST_TEST((m.factoring_layers() == std::vector<std::size_t>{3}));
}
