// The compile-time homogeneity analysis of the paper's architectures. The static_asserts
// are the test; the run-time cases print what they checked.
#define BOOST_TEST_MODULE rhonet_homogeneity
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <random>

#include <rhonet/rhonet.hpp>

using namespace rhonet;
using namespace rhonet::arch;

// FC4 with BN: only the last dense layer (index 9) factors out; the three BN-preceded ones
// are scale-invariant. The output is invariant to the input's scale.
using fc4bn = fc4_bn<785>;
static_assert(fc4bn::weight_layer_count == 4);
static_assert(fc4bn::factoring_layer_count == 1);
static_assert(fc4bn::homogeneity.factors_out(9));
static_assert(fc4bn::homogeneity.scale_invariant(0) && fc4bn::homogeneity.scale_invariant(3) &&
              fc4bn::homogeneity.scale_invariant(6));
static_assert(fc4bn::degree_in_input == 0);
static_assert(fc4bn::homogeneity.factors_exactly());

// FC4 without BN: all four factor out; degree 1 in the input.
using fc4plain = fc4<785>;
static_assert(fc4plain::factoring_layer_count == 4 && fc4plain::weight_layer_count == 4);
static_assert(fc4plain::degree_in_input == 1);
static_assert(fc4plain::output_size == 1 && fc4plain::input_size == 785);

// Weight-normalised FC4: the four scales factor out.
static_assert(fc4_wn<785>::factoring_layer_count == 4);

// Conv4 with BN on 28x28 and 32x32: only the last conv factors out; 4x4 before it.
using c28 = conv4_bn<1, 28>;
using c32 = conv4_bn<3, 32, 2>;
static_assert(c28::factoring_layer_count == 1 && c28::homogeneity.factors_out(9));
static_assert(c32::factoring_layer_count == 1 && c32::output_size == 2);
static_assert(std::is_same_v<c28::layer_type<8>::out_shape, shape<128, 4, 4>>);
static_assert(std::is_same_v<c32::layer_type<8>::out_shape, shape<128, 4, 4>>);
static_assert(std::is_same_v<c28::out_shape, shape<1, 1, 1>>);

// Conv4 without BN: all four factor out.
static_assert(conv4<3, 32>::factoring_layer_count == 4 && conv4<3, 32>::degree_in_input == 1);

// An affine BN with a shift is a bias: the output is not homogeneous in its gamma, and the
// analysis says g does not factor exactly. A scale-only affine BN's gamma factors out.
using shifted = network<input<4>, dense<3>, batch_norm<affine::scale_shift>, relu, dense<1>>;
static_assert(!shifted::homogeneity.factors_exactly());
static_assert(shifted::homogeneity.output_degree_in_weights(1) == not_homogeneous);
using scaled = network<input<4>, dense<3>, batch_norm<affine::scale>, relu, dense<1>>;
static_assert(scaled::factoring_layer_count == 2 && scaled::homogeneity.factors_out(1));

// A shift before a later normaliser: relu(c gamma xhat + beta) is not a scaling of
// relu(gamma xhat + beta), so the later batch norm cannot remove c. gamma (layer index 1) is
// not homogeneous, and g does not factor exactly.
using shift_then_bn = network<input<4>, dense<3>, batch_norm<affine::scale_shift>, relu, dense<3>,
                              batch_norm<>, relu, dense<1>>;
static_assert(!shift_then_bn::homogeneity.scale_invariant(1));
static_assert(shift_then_bn::homogeneity.output_degree_in_weights(1) == not_homogeneous);
static_assert(!shift_then_bn::homogeneity.factors_exactly());
static_assert(shift_then_bn::homogeneity.scale_invariant(0) && shift_then_bn::homogeneity.scale_invariant(3));
static_assert(shift_then_bn::homogeneity.factors_out(6) && shift_then_bn::factoring_layer_count == 1);

// A bias makes its layer not homogeneous in its input and its weights; pooling and dropout
// are degree 1 in their input and have no weights.
static_assert(dense<4, bias::on>::input_degree == not_homogeneous && dense<4, bias::on>::weight_degree == not_homogeneous);
static_assert(conv2d<4, 3, 1, 1, bias::on>::weight_degree == not_homogeneous && dense<4>::weight_degree == 1);
static_assert(max_pool2d<2>::input_degree == 1 && avg_pool2d<2>::input_degree == 1 && dropout<0.5>::input_degree == 1);
static_assert(!max_pool2d<2>::has_weights && !dropout<0.5>::has_weights);
using biased_last = network<input<4>, dense<3>, relu, dense<1, bias::on>>;
static_assert(biased_last::degree_in_input == not_homogeneous && !biased_last::homogeneity.factors_exactly());
static_assert(biased_last::factoring_layer_count == 0);
// A biased layer before a normaliser that follows a bias-free one: W_1 stays invariant, W_4
// (biased, then relu) is not homogeneous, the last layer factors out.
using bias_mid = network<input<5>, dense<4>, batch_norm<>, relu, dense<3, bias::on>, relu, dense<1>>;
static_assert(bias_mid::homogeneity.scale_invariant(0) && bias_mid::homogeneity.factors_out(5));
static_assert(bias_mid::homogeneity.output_degree_in_weights(3) == not_homogeneous);
// The paper's FC net with dropout keeps its analysis (dropout is degree 1).
using fc_drop = network<input<9>, dense<8>, batch_norm<>, relu, dropout<0.5>, dense<1>>;
static_assert(fc_drop::factoring_layer_count == 1 && fc_drop::homogeneity.factors_exactly());
static_assert(network<input<1, 8, 8>, conv2d<2, 3>, relu, max_pool2d<2>, avg_pool2d<3, 1>, flatten, dense<1>>::
                  factoring_layer_count == 2);

// Composition rules: the earlier side first; 0 absorbs what follows it, not_homogeneous is
// absorbed by nothing.
static_assert(compose_degree(1, 0) == 0 && compose_degree(0, not_homogeneous) == 0);
static_assert(compose_degree(not_homogeneous, 0) == not_homogeneous);
static_assert(compose_degree(not_homogeneous, 1) == not_homogeneous && compose_degree(0, 1) == 0);
static_assert(compose_degree(1, not_homogeneous) == not_homogeneous && compose_degree(1, 1) == 1);

BOOST_AUTO_TEST_CASE(positions_of_weight_layers) {
  BOOST_TEST((fc4bn::weight_layer_positions() == std::vector<std::size_t>{1, 4, 7, 10}));
  BOOST_TEST((fc4plain::weight_layer_positions() == std::vector<std::size_t>{1, 3, 5, 7}));
}

BOOST_AUTO_TEST_CASE(signatures_name_the_type) {
  BOOST_TEST(c28::signature() ==
             "network<float,input<1,28,28>,conv2d<32,3,2,1>,batch_norm<>,relu,conv2d<64,3,2,1>,"
             "batch_norm<>,relu,conv2d<128,3,2,1>,batch_norm<>,relu,conv2d<1,4,1,0>>");
  BOOST_TEST(fc4plain::rebind<double>::signature().rfind("network<double,input<785>", 0) == 0);
}

// ---------------------------------------------------------------------------------------
// The analysis against measurement: for a table of networks, every parameter tensor and the
// input are scaled by c = 3 (double, train mode, every batch norm with eps = 0 so that its
// invariance is exact) and the output is classified as scaled by 3 (degree 1), unchanged
// (degree 0) or neither (not homogeneous). The class must be the compile-time degree: the
// analysis for each layer's weight (W, a weight-normalised layer's scale, a BN's gamma) and
// for the input; a weight-normalised direction is scale-free by construction (0) and a BN
// shift beta is a bias (not homogeneous), composed with the later layers the same way.
namespace measured {

using D = double;
template <class... L>
using net = basic_network<D, L...>;

using table = std::tuple<
    net<input<5>, dense<4>, relu, dense<3>, relu, dense<2>>,
    net<input<5>, dense<4>, batch_norm<>, relu, dense<3>, batch_norm<>, relu, dense<1>>,
    // the repro: a shift before a later normaliser
    net<input<4>, dense<3>, batch_norm<affine::scale_shift>, relu, dense<3>, batch_norm<>, relu, dense<1>>,
    // a shift after a normaliser
    net<input<5>, dense<4>, batch_norm<>, relu, dense<3>, batch_norm<affine::scale_shift>, relu, dense<1>>,
    net<input<5>, dense<4>, batch_norm<affine::scale>, relu, dense<3>, batch_norm<>, relu, dense<1>>,
    net<input<5>, dense<4>, batch_norm<affine::scale>, relu, dense<2>>,
    net<input<5>, dense<4>, batch_norm<affine::scale_shift>, relu, dense<2>>,
    net<input<5>, batch_norm<affine::scale_shift>, dense<3>, relu, dense<1>>,
    net<input<5>, weight_norm<dense<4>>, relu, weight_norm<dense<3>>, relu, weight_norm<dense<1>>>,
    net<input<5>, weight_norm<dense<4>>, batch_norm<>, relu, weight_norm<dense<1>>>,
    net<input<1, 6, 6>, conv2d<2, 3, 1, 1>, batch_norm<>, relu, conv2d<3, 3, 2, 1>, relu, flatten, dense<2>>,
    net<input<2, 6, 6>, conv2d<3, 3, 1, 1>, relu, conv2d<4, 3, 1, 0>, global_avg_pool, dense<1>>,
    net<input<2, 6, 6>, conv2d<3, 3, 1, 1>, batch_norm<affine::scale_shift>, relu, conv2d<4, 3, 1, 0>,
        batch_norm<>, relu, global_avg_pool, dense<1>>,
    net<input<1, 5, 5>, weight_norm<conv2d<2, 3, 1, 1>>, relu, flatten, weight_norm<dense<1>>>,
    // biases: the biased layer and everything before it are not homogeneous; after a
    // normaliser that follows a bias-free layer, the earlier weights stay invariant
    net<input<5>, dense<4, bias::on>, relu, dense<3>, relu, dense<2>>,
    net<input<5>, dense<4>, relu, dense<3>, relu, dense<2, bias::on>>,
    net<input<5>, dense<4>, batch_norm<>, relu, dense<3, bias::on>, relu, dense<1>>,
    net<input<1, 6, 6>, conv2d<2, 3, 1, 1, bias::on>, relu, conv2d<3, 3, 2, 1>, relu, flatten, dense<2>>,
    net<input<2, 6, 6>, conv2d<3, 3, 1, 1>, batch_norm<>, relu, conv2d<1, 3, 1, 0, bias::on>, flatten, dense<1>>,
    // pooling: degree 1
    net<input<2, 8, 8>, conv2d<3, 3, 1, 1>, relu, max_pool2d<2>, conv2d<4, 3, 1, 1>, relu, avg_pool2d<2>,
        flatten, dense<2>>,
    net<input<2, 7, 7>, conv2d<3, 3, 1, 1>, batch_norm<>, relu, max_pool2d<3, 2>, avg_pool2d<2, 1>, flatten, dense<1>>,
    // dropout in train mode with the same mask in every copy: degree 1
    net<input<5>, dense<6>, relu, dropout<0.5>, dense<4>, relu, dropout<0.25>, dense<1>>,
    net<input<1, 6, 6>, dropout<0.2>, conv2d<2, 3, 1, 1>, batch_norm<>, relu, flatten, dropout<0.5>, dense<2>>>;

// 1, 0 or not_homogeneous from g (unscaled) and gc (one quantity scaled by 3); -2 if the
// output is neither clearly one class nor clearly outside both (a test failure).
inline int classify(const matrix<D>& g, const matrix<D>& gc) {
  double d1 = 0, d3 = 0, n = 0;
  for (std::size_t i = 0; i < g.size(); ++i) {
    const double a = g.data()[i], b = gc.data()[i];
    d1 += (b - a) * (b - a);
    d3 += (b - 3 * a) * (b - 3 * a);
    n += a * a;
  }
  const double r1 = std::sqrt(d1 / n), r3 = std::sqrt(d3 / n) / 3;
  if (r1 < 1e-9) return 0;
  if (r3 < 1e-9) return 1;
  if (r1 > 1e-4 && r3 > 1e-4) return not_homogeneous;
  return -2;
}

template <class Net>
void set_eps_zero(Net& n) {
  n.for_each_layer([](auto& l) {
    if constexpr (requires { l.eps; }) l.eps = 0;
  });
}

template <class Net>
void check_against_measurement(std::size_t which) {
  std::mt19937_64 rng(100 + which);
  std::normal_distribution<double> nd;
  auto base = std::make_unique<Net>();
  for (auto* p : base->parameters())
    for (auto& v : p->value) v = nd(rng);
  set_eps_zero(*base);
  matrix<D> x = matrix<D>::from_shape({16, Net::input_size});
  for (auto& v : x) v = nd(rng);
  // On a copy, so that base (and every copy of it below) keeps the same dropout RNG state:
  // each forward pass draws the same masks.
  const matrix<D> g = std::make_unique<Net>(*base)->forward(x, mode::train);

  // The input.
  {
    auto copy = std::make_unique<Net>(*base);
    matrix<D> x3 = 3.0 * x;
    BOOST_TEST(classify(g, copy->forward(x3, mode::train)) == Net::degree_in_input,
               "net " << which << " (" << Net::signature() << "), input");
  }
  // Every parameter tensor of every layer.
  auto visit = [&]<std::size_t K>(std::integral_constant<std::size_t, K>) {
    using L = typename Net::template layer_type<K>;
    if constexpr (L::has_weights) {
      std::size_t params = 0;
      base->template layer<K>().for_each_param([&](parameter<D>&) { ++params; });
      for (std::size_t j = 0; j < params; ++j) {
        auto copy = std::make_unique<Net>(*base);
        std::size_t i = 0;
        param_role role{};
        copy->template layer<K>().for_each_param([&](parameter<D>& p) {
          if (i++ == j) {
            p.value *= 3.0;
            role = p.role;
          }
        });
        // The degree of the layer's own output in this tensor, then composed with the
        // later layers by the analysis's rule.
        int own = L::weight_degree;
        if (role == param_role::wn_direction) own = 0;
        if (role == param_role::bn_shift) own = not_homogeneous;
        int expected = own;
        for (std::size_t k = K + 1; k < Net::layer_count; ++k)
          expected = compose_degree(expected, Net::homogeneity.input_degree[k]);
        if (role != param_role::wn_direction && role != param_role::bn_shift)
          BOOST_TEST(expected == Net::homogeneity.output_degree_in_weights(K));
        const int got = classify(g, copy->forward(x, mode::train));
        BOOST_TEST(got == expected, "net " << which << " (" << Net::signature() << "), layer " << K + 1
                                           << ", " << to_string(role) << ": measured " << got
                                           << ", compile-time " << expected);
      }
    }
  };
  [&]<std::size_t... K>(std::index_sequence<K...>) {
    (visit(std::integral_constant<std::size_t, K>{}), ...);
  }(std::make_index_sequence<Net::layer_count>{});
}

}  // namespace measured

BOOST_AUTO_TEST_CASE(compile_time_degrees_match_measurement) {
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (measured::check_against_measurement<std::tuple_element_t<I, measured::table>>(I), ...);
  }(std::make_index_sequence<std::tuple_size_v<measured::table>>{});
}
