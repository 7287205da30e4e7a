// The compile-time homogeneity analysis of the paper's architectures. The static_asserts
// are the test; the run-time cases print what they checked.
#define BOOST_TEST_MODULE rhonet_homogeneity
#include <boost/test/unit_test.hpp>

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

// Composition rules.
static_assert(compose_degree(1, 0) == 0 && compose_degree(0, not_homogeneous) == 0);
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
