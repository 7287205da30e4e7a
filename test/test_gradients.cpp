// Central-difference gradient checks, in double, for every layer type and for whole
// networks (parameter and input gradients, relative error < 1e-6).
#define BOOST_TEST_MODULE rhonet_gradients
#include <boost/test/unit_test.hpp>

#include <cmath>
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
  // Every pass draws the same dropout masks, so that finite differences see one function.
  check_gradients(*net, x, rng, m, 1e-6, 1e-5, [&] { seed_dropout(*net, 17); });
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
// A stride the paper's networks do not use (they use 1 and 2).
BOOST_AUTO_TEST_CASE(conv2d_stride3_pad1) {
  check_net<basic_network<double, input<2, 8, 7>, conv2d<3, 3, 3, 1>>>(3);
}
// Padding wider than the kernel (kernel rows and columns that see only zeros), and batches
// above and off the 8-sample blocks im2col and col2im work in.
BOOST_AUTO_TEST_CASE(conv2d_padding_wider_than_kernel) {
  check_net<basic_network<double, input<2, 3, 2>, conv2d<2, 2, 1, 2>>>(11);
}
BOOST_AUTO_TEST_CASE(conv2d_full_kernel_batch_of_blocks) {
  check_net<basic_network<double, input<3, 4, 4>, conv2d<2, 4, 1, 0>>>(17);
}
// A kernel over the whole input is computed as a dense layer, bias included.
BOOST_AUTO_TEST_CASE(conv2d_full_kernel_with_bias) {
  check_net<basic_network<double, input<2, 3, 3>, conv2d<3, 3, 1, 0, bias::on>>>(5);
}
// A kernel larger than the 3x3 and 4x4 of the paper's nets, with padding.
BOOST_AUTO_TEST_CASE(conv2d_large_kernel) {
  check_net<basic_network<double, input<2, 7, 6>, conv2d<2, 6, 2, 2>>>(9);
}

// The forward pass against the definition, summed directly.
template <std::size_t C, std::size_t H, std::size_t W, std::size_t O, std::size_t K, std::size_t S, std::size_t P,
          bias B = bias::off>
void check_conv_forward_is_the_definition(std::size_t batch, mode m = mode::train) {
  using net_t = basic_network<double, input<C, H, W>, conv2d<O, K, S, P, B>>;
  constexpr std::size_t OH = (H + 2 * P - K) / S + 1, OW = (W + 2 * P - K) / S + 1;
  std::mt19937_64 rng(11);
  auto net = std::make_unique<net_t>();
  rhonet::testing::randomize(*net, rng);
  matrix<double> x = matrix<double>::from_shape({batch, net_t::input_size});
  rhonet::testing::fill_normal(x, rng);
  const auto& y = net->forward(x, m);
  const auto& w = net->template layer<0>().weight().value;  // O x (C K K)
  for (std::size_t n = 0; n < batch; ++n)
    for (std::size_t o = 0; o < O; ++o)
      for (std::size_t oh = 0; oh < OH; ++oh)
        for (std::size_t ow = 0; ow < OW; ++ow) {
          double want = 0, size = 0;  // size: the sum of the terms' magnitudes
          if constexpr (B == bias::on) {
            want = net->template layer<0>().bias_param().value(0, o);
            size = std::abs(want);
          }
          for (std::size_t c = 0; c < C; ++c)
            for (std::size_t ki = 0; ki < K; ++ki)
              for (std::size_t kj = 0; kj < K; ++kj) {
                const long h = long(oh * S + ki) - long(P), v = long(ow * S + kj) - long(P);
                if (h < 0 || v < 0 || h >= long(H) || v >= long(W)) continue;
                const double term = w(o, (c * K + ki) * K + kj) * x(n, (c * H + std::size_t(h)) * W + std::size_t(v));
                want += term;
                size += std::abs(term);
              }
          // Rounding in another summation order is bounded by the terms' magnitudes, not the sum's.
          BOOST_TEST(std::abs(y(n, (o * OH + oh) * OW + ow) - want) <= 1e-12 * size);
        }
}
BOOST_AUTO_TEST_CASE(conv2d_stride3_forward_is_the_definition) {
  check_conv_forward_is_the_definition<2, 8, 7, 3, 3, 3, 1>(2);
}
BOOST_AUTO_TEST_CASE(conv2d_wide_padding_forward_is_the_definition) {
  check_conv_forward_is_the_definition<2, 3, 2, 2, 2, 1, 2>(11);
  check_conv_forward_is_the_definition<1, 5, 6, 4, 3, 2, 3>(9);
}
BOOST_AUTO_TEST_CASE(conv2d_full_kernel_forward_is_the_definition) {
  check_conv_forward_is_the_definition<5, 4, 4, 3, 4, 1, 0>(19);
  // Eval mode: one sample (GEMV) and a small batch (the small-batch kernel).
  check_conv_forward_is_the_definition<5, 4, 4, 3, 4, 1, 0>(1, mode::eval);
  check_conv_forward_is_the_definition<5, 4, 4, 3, 4, 1, 0>(3, mode::eval);
  check_conv_forward_is_the_definition<5, 4, 4, 3, 4, 1, 0, bias::on>(6);
  check_conv_forward_is_the_definition<5, 4, 4, 3, 4, 1, 0, bias::on>(1, mode::eval);
}
BOOST_AUTO_TEST_CASE(conv2d_large_kernel_forward_is_the_definition) {
  check_conv_forward_is_the_definition<2, 9, 8, 3, 6, 2, 2>(9);
  check_conv_forward_is_the_definition<1, 7, 7, 2, 7, 1, 3>(3);
}
BOOST_AUTO_TEST_CASE(batch_norm_flat_train) { check_net<basic_network<double, input<5>, batch_norm<>>>(); }
BOOST_AUTO_TEST_CASE(batch_norm_flat_eval) {
  check_net<basic_network<double, input<5>, batch_norm<>>>(5, mode::eval);
}
BOOST_AUTO_TEST_CASE(batch_norm_image_train) {
  check_net<basic_network<double, input<3, 3, 2>, batch_norm<>>>(4);
}
// 20 values per channel: the sums run in lanes, with a tail (layers/batch_norm.hpp).
BOOST_AUTO_TEST_CASE(batch_norm_image_lanes_and_tail) {
  check_net<basic_network<double, input<2, 5, 4>, batch_norm<>>>(3);
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


// Biases (the parameter layerK.bias) on dense and conv2d, with and without the channel
// permutation of conv2d (OutC > 1 / OutC = 1).
BOOST_AUTO_TEST_CASE(dense_with_bias) { check_net<basic_network<double, input<6>, dense<4, bias::on>>>(); }
BOOST_AUTO_TEST_CASE(conv2d_with_bias) {
  check_net<basic_network<double, input<2, 5, 5>, conv2d<3, 3, 2, 1, bias::on>>>();
  check_net<basic_network<double, input<2, 4, 4>, conv2d<1, 3, 1, 0, bias::on>>>(3);
}
// Pooling: windows that tile the input (S = K), overlap (S < K) and skip pixels (S > K).
BOOST_AUTO_TEST_CASE(max_pool2d_layer) {
  check_net<basic_network<double, input<2, 4, 6>, max_pool2d<2>>>();
  check_net<basic_network<double, input<2, 5, 5>, max_pool2d<3, 1>>>(3);
  check_net<basic_network<double, input<1, 7, 7>, max_pool2d<2, 3>>>(3);
}
BOOST_AUTO_TEST_CASE(avg_pool2d_layer) {
  check_net<basic_network<double, input<2, 4, 6>, avg_pool2d<2>>>();
  check_net<basic_network<double, input<2, 5, 5>, avg_pool2d<3, 1>>>(3);
  check_net<basic_network<double, input<1, 7, 7>, avg_pool2d<2, 3>>>(3);
}
BOOST_AUTO_TEST_CASE(dropout_layer) {
  check_net<basic_network<double, input<9>, dropout<0.5>>>();
  check_net<basic_network<double, input<9>, dropout<0.5>>>(5, mode::eval);
  check_net<basic_network<double, input<2, 3, 3>, dropout<0.2>>>(4);
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

BOOST_AUTO_TEST_CASE(the_new_layers_together) {
  check_net<basic_network<double, input<2, 8, 8>, conv2d<3, 3, 1, 1, bias::on>, relu, max_pool2d<2>,
                          conv2d<4, 3, 1, 1>, batch_norm<>, relu, avg_pool2d<2>, flatten, dropout<0.3>,
                          dense<5, bias::on>, relu, dense<3>>>(4);
  check_net<basic_network<double, input<2, 8, 8>, conv2d<3, 3, 1, 1, bias::on>, relu, max_pool2d<2>,
                          conv2d<4, 3, 1, 1>, batch_norm<>, relu, avg_pool2d<2>, flatten, dropout<0.3>,
                          dense<5, bias::on>, relu, dense<3>>>(4, mode::eval);
}

BOOST_AUTO_TEST_SUITE_END()

// batch_norm followed by relu runs as one fused kernel inside the network (network.hpp);
// these check it against finite differences and against the two layers run one by one.
BOOST_AUTO_TEST_SUITE(fused_batch_norm_relu)

BOOST_AUTO_TEST_CASE(gradients_every_affine_kind_and_mode) {
  check_net<basic_network<double, input<5>, batch_norm<>, relu>>(6);
  check_net<basic_network<double, input<5>, batch_norm<>, relu>>(6, mode::eval);
  check_net<basic_network<double, input<2, 3, 3>, batch_norm<affine::scale>, relu>>(4);
  check_net<basic_network<double, input<4>, batch_norm<affine::scale_shift>, relu>>(5);
  check_net<basic_network<double, input<4>, batch_norm<affine::scale_shift>, relu>>(5, mode::eval);
}

template <affine A>
void check_matches_unfused() {
  using Net = basic_network<double, input<3, 4, 4>, conv2d<4, 3, 1, 1>, batch_norm<A>, relu, flatten, dense<2>>;
  std::mt19937_64 rng(11);
  auto net = std::make_unique<Net>();
  rhonet::testing::randomize(*net, rng);
  const std::size_t B = 5;
  matrix<double> x = matrix<double>::from_shape({B, Net::input_size});
  matrix<double> dout = matrix<double>::from_shape({B, 2});
  rhonet::testing::fill_normal(x, rng);
  rhonet::testing::fill_normal(dout, rng);
  for (mode m : {mode::train, mode::eval}) {
    const matrix<double> out = net->forward(x, m);
    net->backward(dout, true);
    std::vector<matrix<double>> grads;
    for (auto* p : net->parameters()) grads.push_back(p->grad);
    const matrix<double> dx_fused = net->input_grad();
    // The same layers, one by one, with the relu's own kernels.
    auto& l0 = net->template layer<0>();
    auto& l1 = net->template layer<1>();
    auto& l2 = net->template layer<2>();
    auto& l3 = net->template layer<3>();
    auto& l4 = net->template layer<4>();
    std::vector<matrix<double>> a(6);
    a[0] = x;
    a[1] = matrix<double>::from_shape({B, 64});
    a[2] = a[1], a[3] = a[1], a[4] = a[1];
    a[5] = matrix<double>::from_shape({B, 2});
    // (Train mode normalises with the batch statistics, eval mode with the running ones,
    // which neither eval pass changes: both passes see the same state.)
    l0.forward(a[0], a[1], m);
    l1.forward(a[1], a[2], m);
    l2.forward(a[2], a[3], m);
    l3.forward(a[3], a[4], m);
    l4.forward(a[4], a[5], m);
    for (std::size_t i = 0; i < out.size(); ++i) BOOST_TEST(a[5].data()[i] == out.data()[i]);
    std::vector<matrix<double>> d(a);
    l4.backward(a[4], a[5], dout, &d[4]);
    l3.backward(a[3], a[4], d[4], &d[3]);
    l2.backward(a[2], a[3], d[3], &d[2]);
    l1.backward(a[1], a[2], d[2], &d[1]);
    l0.backward(a[0], a[1], d[1], &d[0]);
    std::size_t k = 0;
    for (auto* p : net->parameters()) {
      for (std::size_t i = 0; i < p->grad.size(); ++i)
        BOOST_TEST(p->grad.data()[i] == grads[k].data()[i], boost::test_tools::tolerance(1e-12));
      ++k;
    }
    for (std::size_t i = 0; i < dx_fused.size(); ++i)
      BOOST_TEST(d[0].data()[i] == dx_fused.data()[i], boost::test_tools::tolerance(1e-12));
  }
}

BOOST_AUTO_TEST_CASE(matches_layers_run_one_by_one) {
  check_matches_unfused<affine::none>();
  check_matches_unfused<affine::scale_shift>();
}

BOOST_AUTO_TEST_SUITE_END()

// conv2d's buffers only grow: a smaller batch after a larger one (the last batch of an epoch)
// must give the same per-sample results as a fresh layer.
BOOST_AUTO_TEST_CASE(conv_after_a_larger_batch) {
  using Net = basic_network<double, input<2, 6, 6>, conv2d<3, 3, 2, 1>, relu, conv2d<2, 3, 1, 1>>;
  std::mt19937_64 rng(5);
  auto a = std::make_unique<Net>(), b = std::make_unique<Net>();
  rhonet::testing::randomize(*a, rng);
  auto pa = a->parameters(), pb = b->parameters();
  for (std::size_t i = 0; i < pa.size(); ++i) pb[i]->value = pa[i]->value;
  matrix<double> big = matrix<double>::from_shape({7, Net::input_size});
  rhonet::testing::fill_normal(big, rng);
  matrix<double> small = matrix<double>::from_shape({3, Net::input_size});
  std::copy(big.data() + 2 * Net::input_size, big.data() + 5 * Net::input_size, small.data());
  a->forward(big, mode::train);
  const matrix<double> out_a = a->forward(small, mode::train);
  const matrix<double> out_b = b->forward(small, mode::train);
  BOOST_TEST(out_a == out_b);
  check_net<Net>(7);
  check_net<Net>(2);
}
