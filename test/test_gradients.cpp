// Central-difference gradient checks, in double, for every layer type and for whole
// networks (parameter and input gradients, relative error < 1e-6).
#define BOOST_TEST_MODULE rhonet_gradients
#include <boost/test/unit_test.hpp>

#include <memory>

#include <rhonet/rhonet.hpp>

#include "support/gradcheck.hpp"

using namespace rhonet;
using rhonet::testing::check_gradients;

namespace {

template <class Net>
void check_net(std::size_t batch = 5, mode m = mode::train, std::uint64_t seed = 7) {
  std::mt19937_64 rng(seed);
  auto net = std::make_unique<Net>();
  rhonet::testing::randomize(*net, rng);
  matrix<double> x = matrix<double>::from_shape({batch, Net::input_size});
  rhonet::testing::fill_normal(x, rng);
  if (m == mode::eval) {  // give the running statistics non-trivial values first
    for (int i = 0; i < 3; ++i) net->forward(x, mode::train);
  }
  check_gradients(*net, x, rng, m);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(single_layers)

BOOST_AUTO_TEST_CASE(dense_layer) { check_net<basic_network<double, input<6>, dense<4>>>(); }
BOOST_AUTO_TEST_CASE(relu_layer) { check_net<basic_network<double, input<7>, relu>>(); }
BOOST_AUTO_TEST_CASE(conv2d_stride1_pad1) {
  check_net<basic_network<double, input<2, 5, 5>, conv2d<3, 3, 1, 1>>>();
}
BOOST_AUTO_TEST_CASE(conv2d_stride2_pad1) {
  check_net<basic_network<double, input<2, 7, 6>, conv2d<3, 3, 2, 1>>>();
}
BOOST_AUTO_TEST_CASE(conv2d_full_kernel_no_pad) {
  check_net<basic_network<double, input<3, 4, 4>, conv2d<2, 4, 1, 0>>>();
}
BOOST_AUTO_TEST_CASE(batch_norm_flat_train) { check_net<basic_network<double, input<5>, batch_norm<>>>(); }
BOOST_AUTO_TEST_CASE(batch_norm_flat_eval) {
  check_net<basic_network<double, input<5>, batch_norm<>>>(5, mode::eval);
}
BOOST_AUTO_TEST_CASE(batch_norm_image_train) {
  check_net<basic_network<double, input<3, 3, 2>, batch_norm<>>>(4);
}
BOOST_AUTO_TEST_CASE(batch_norm_scale) {
  check_net<basic_network<double, input<4>, batch_norm<affine::scale>>>();
}
BOOST_AUTO_TEST_CASE(batch_norm_scale_shift) {
  check_net<basic_network<double, input<2, 3, 3>, batch_norm<affine::scale_shift>>>(3);
}
BOOST_AUTO_TEST_CASE(batch_norm_scale_shift_eval) {
  check_net<basic_network<double, input<4>, batch_norm<affine::scale_shift>>>(4, mode::eval);
}
BOOST_AUTO_TEST_CASE(flatten_layer) { check_net<basic_network<double, input<2, 3, 3>, flatten>>(); }
BOOST_AUTO_TEST_CASE(global_avg_pool_layer) {
  check_net<basic_network<double, input<3, 4, 2>, global_avg_pool>>();
}
BOOST_AUTO_TEST_CASE(weight_norm_dense) {
  check_net<basic_network<double, input<6>, weight_norm<dense<3>>>>();
}
BOOST_AUTO_TEST_CASE(weight_norm_conv2d) {
  check_net<basic_network<double, input<2, 5, 5>, weight_norm<conv2d<2, 3, 2, 1>>>>();
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(whole_networks)

BOOST_AUTO_TEST_CASE(fc_plain) {
  check_net<basic_network<double, input<8>, dense<6>, relu, dense<5>, relu, dense<4>, relu, dense<1>>>();
}
BOOST_AUTO_TEST_CASE(fc_bn) {
  check_net<basic_network<double, input<8>, dense<6>, batch_norm<>, relu, dense<5>, batch_norm<>,
                          relu, dense<4>, batch_norm<>, relu, dense<2>>>(6);
}
BOOST_AUTO_TEST_CASE(fc_weight_norm) {
  check_net<basic_network<double, input<8>, weight_norm<dense<6>>, relu, weight_norm<dense<5>>,
                          relu, weight_norm<dense<1>>>>();
}
BOOST_AUTO_TEST_CASE(conv_plain) {
  check_net<basic_network<double, input<1, 8, 8>, conv2d<3, 3, 2, 1>, relu, conv2d<4, 3, 2, 1>,
                          relu, conv2d<2, 2, 1, 0>>>(3);
}
BOOST_AUTO_TEST_CASE(conv_bn) {
  check_net<basic_network<double, input<2, 8, 8>, conv2d<3, 3, 2, 1>, batch_norm<>, relu,
                          conv2d<4, 3, 2, 1>, batch_norm<>, relu, conv2d<1, 2, 1, 0>>>(4);
}
BOOST_AUTO_TEST_CASE(conv_weight_norm_pool_flatten) {
  check_net<basic_network<double, input<2, 6, 6>, weight_norm<conv2d<3, 3, 1, 1>>, relu,
                          global_avg_pool, weight_norm<dense<2>>>>(3);
  check_net<basic_network<double, input<1, 6, 6>, conv2d<2, 3, 2, 1>, batch_norm<affine::scale>,
                          relu, flatten, dense<2>>>(3);
}

BOOST_AUTO_TEST_SUITE_END()
