// rhonet/bench.hpp: the GEMMs it attributes to each layer and network, against the shapes
// worked out by hand from the layers' algorithms (docs/architecture.md), and the rows it
// registers. Nothing is timed.
#define BOOST_TEST_MODULE rhonet_bench_header
#include <boost/test/unit_test.hpp>

#include <sstream>
#include <string>
#include <vector>

#include <rhonet/bench.hpp>
#include <rhonet/nn.hpp>

using namespace rhonet;

namespace {
template <class Spec, class In>
using bound = typename Spec::template bind<float, 1, In>;
}

BOOST_AUTO_TEST_CASE(dense_gemms) {
  using L = bound<dense<512>, shape<785>>;
  // Y (128 x 512) = X (128 x 785) W^T: 2 * 128 * 512 * 785 flops.
  const auto f = bench::forward_gemms<L>(128);
  BOOST_TEST_REQUIRE(f.size() == 1u);
  BOOST_TEST(f[0].trans_b);
  BOOST_TEST(bench::flops(f) == 2.0 * 128 * 512 * 785);
  // dW (512 x 785) = dY^T X and dX (128 x 785) = dY W: twice the forward; without dX once.
  BOOST_TEST(bench::flops(bench::backward_gemms<L>(128)) == 2 * 2.0 * 128 * 512 * 785);
  BOOST_TEST(bench::flops(bench::backward_gemms<L>(128, false)) == 2.0 * 128 * 512 * 785);
}

BOOST_AUTO_TEST_CASE(conv_and_weight_norm_gemms) {
  // conv2d<8, 3, 2, 1> on 4 x 10 x 10: output 5 x 5, patch 4 * 9 = 36; Yc (8 x 32 * 25) = W (8 x 36) cols.
  using C = bound<conv2d<8, 3, 2, 1>, shape<4, 10, 10>>;
  const auto f = bench::forward_gemms<C>(32);
  BOOST_TEST_REQUIRE(f.size() == 1u);
  BOOST_TEST(f[0].m == 8u);
  BOOST_TEST(f[0].n == 32u * 25u);
  BOOST_TEST(f[0].k == 36u);
  BOOST_TEST(bench::flops(bench::backward_gemms<C>(32)) == 2 * 2.0 * 8 * 800 * 36);
  using W = bound<weight_norm<conv2d<8, 3, 2, 1>>, shape<4, 10, 10>>;
  BOOST_TEST(bench::flops(bench::forward_gemms<W>(32)) == bench::flops(f));
  using B = bound<batch_norm<>, shape<64>>;
  using R = bound<relu, shape<64>>;
  BOOST_TEST(bench::forward_gemms<B>(32).empty());
  BOOST_TEST(bench::backward_gemms<R>(32).empty());
}

BOOST_AUTO_TEST_CASE(network_gemms_skip_the_first_input_gradient) {
  using net = network<input<20>, dense<10>, batch_norm<>, relu, dense<3>>;
  const double first = 2.0 * 16 * 10 * 20, last = 2.0 * 16 * 3 * 10;
  BOOST_TEST(bench::flops(bench::network_gemms<net>(16, false)) == first + last);
  // backward: dW of both, dX of the last only.
  BOOST_TEST(bench::flops(bench::network_gemms<net>(16, true)) == 2 * first + 3 * last);
}

BOOST_AUTO_TEST_CASE(rows_are_registered_with_their_baselines) {
  bench::add_layer<dense<16>, shape<8>>("probe_dense");
  bench::add_layer<relu, shape<8>>("probe_relu");
  bench::add_network<network<input<8>, dense<4>, relu, dense<2>>>("probe_net", 32, {1, 2});
  // Listing, not running: the names Google Benchmark would run.
  int argc = 2;
  char arg0[] = "test", arg1[] = "--benchmark_list_tests=true";
  char* argv[] = {arg0, arg1, nullptr};
  benchmark::Initialize(&argc, argv);
  std::ostringstream out;
  benchmark::ConsoleReporter rep;
  rep.SetOutputStream(&out);
  benchmark::RunSpecifiedBenchmarks(&rep);
  const std::string text = out.str();
  for (const char* n : {"probe_dense/forward/blas_threads:1", "sgemm/probe_dense/backward/blas_threads:1",
                        "probe_relu/backward/blas_threads:1", "probe_net/train_step/blas_threads:2",
                        "sgemm/probe_net/predict/blas_threads:1"})
    BOOST_TEST(text.find(n) != std::string::npos, n << " in:\n" << text);
  BOOST_TEST(text.find("sgemm/probe_relu") == std::string::npos);
}
