// Runtime dispatch (core/dispatch.hpp): the baseline and the AVX2 copies of the dispatched
// loops (ReLU, batch norm with and without the fused ReLU, every SGD variant, conv2d's im2col
// and col2im, the small-batch product of eval mode) give bit-identical results on the same data, and RHONET_ISA is read with a
// clear error. On a CPU without AVX2, or in a build for AVX2 (no dispatch), only the parts
// that can run are checked.
#define BOOST_TEST_MODULE rhonet_dispatch
#define RHONET_COUNT_DISPATCH  // detail::avx2_runs: the AVX2 copy really runs when chosen
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <rhonet/rhonet.hpp>

#include "support/gradcheck.hpp"

using namespace rhonet;
namespace rt = rhonet::testing;

namespace {

// Widths off the vector lengths (tails), an image BN with S = 25 >= 16 (lane_sum's lane
// path with a tail) and one with S = 9; BN+ReLU pairs (fused) and a BN and a ReLU alone.
template <class T>
using flat_net = basic_network<T, input<37>, dense<29>, batch_norm<affine::scale>, relu, dense<19>, relu,
                               dense<13>, batch_norm<>, dense<2>>;
using conv_net = basic_network<float, input<3, 9, 9>, conv2d<4, 3, 2, 1>, batch_norm<>, relu,
                               conv2d<5, 3, 1, 1>, batch_norm<affine::scale_shift>, relu,
                               conv2d<3, 3, 2, 1>, relu, flatten, dense<2>>;

// The bytes of everything a few training steps produce: outputs, input gradients, parameter
// values and gradients, and the eval-mode output (which reads the running statistics).
template <class T>
void append(std::vector<unsigned char>& out, const T* p, std::size_t n) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  out.insert(out.end(), b, b + n * sizeof(T));
}

template <class Net>
std::vector<unsigned char> train_bytes(isa kernels, const sgd_options& opt, std::size_t batch = 11) {
  using T = typename Net::value_type;
  set_kernel_isa(kernels);
  std::mt19937_64 rng(7);
  auto net = std::make_unique<Net>();
  rt::randomize(*net, rng, 0.5);
  matrix<T> x = matrix<T>::from_shape({batch, Net::input_size});
  matrix<T> r = matrix<T>::from_shape({batch, Net::output_size});
  rt::fill_normal(x, rng);
  rt::fill_normal(r, rng);
  sgd<T> optimizer(net->parameters(), opt);
  std::vector<unsigned char> bytes;
  for (int step = 0; step < 3; ++step) {  // the first step initialises the momentum buffers
    const matrix<T>& y = net->forward(x, mode::train);
    append(bytes, y.data(), y.size());
    net->backward(r, true);
    append(bytes, net->input_grad().data(), net->input_grad().size());
    for (auto* p : net->parameters()) append(bytes, p->grad.data(), p->grad.size());
    optimizer.step();
    for (auto* p : net->parameters()) append(bytes, p->value.data(), p->value.size());
  }
  const matrix<T>& y = net->forward(x, mode::eval);
  append(bytes, y.data(), y.size());
  net->backward(r, true);
  append(bytes, net->input_grad().data(), net->input_grad().size());
  // Small eval-mode batches: the dense layers' small-batch product (core/small_batch.hpp).
  for (const std::size_t rows : {2, 3, 4, 7, 8}) {
    matrix<T> xs = matrix<T>::from_shape({rows, Net::input_size});
    std::copy_n(x.data(), xs.size(), xs.data());
    const matrix<T>& ys = predict(*net, xs);
    append(bytes, ys.data(), ys.size());
  }
  return bytes;
}

const std::vector<sgd_options> optimisers = {
    {.lr = 0.05, .momentum = 0.0, .weight_decay = 0.01},
    {.lr = 0.05, .momentum = 0.9, .weight_decay = 0.0},
    {.lr = 0.05, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true},
};

// Restores the ISA the process detected, whatever a test case set.
struct restore_isa {
  isa saved = kernel_isa();
  ~restore_isa() { set_kernel_isa(saved); }
};

template <class Net>
void check_copies_agree() {
  restore_isa keep;
  if (!cpu_has_avx2()) {
    BOOST_TEST_MESSAGE("this CPU has no AVX2: only the baseline copy runs");
    BOOST_CHECK_THROW(set_kernel_isa(isa::avx2), std::invalid_argument);
    return;
  }
  if (!runtime_dispatch) BOOST_TEST_MESSAGE("built for AVX2: one copy, compared with itself");
  for (const auto& opt : optimisers) {
#if RHONET_RUNTIME_DISPATCH
    const long runs0 = detail::avx2_runs.load();
    const auto base = train_bytes<Net>(isa::baseline, opt);
    const long runs1 = detail::avx2_runs.load();
    const auto avx2 = train_bytes<Net>(isa::avx2, opt);
    BOOST_CHECK_EQUAL(runs1, runs0);           // the baseline never entered the AVX2 copy
    BOOST_CHECK_GT(detail::avx2_runs.load(), runs1);
#else
    const auto base = train_bytes<Net>(isa::baseline, opt);
    const auto avx2 = train_bytes<Net>(isa::avx2, opt);
#endif
    BOOST_TEST_INFO(Net::signature() << " momentum " << opt.momentum << " nesterov " << opt.nesterov);
    BOOST_REQUIRE_EQUAL(base.size(), avx2.size());
    BOOST_CHECK(std::memcmp(base.data(), avx2.data(), base.size()) == 0);
  }
}

// Sets (or unsets, for nullptr) RHONET_ISA for one scope.
struct scoped_env {
  explicit scoped_env(const char* value) {
    if (const char* old = std::getenv("RHONET_ISA")) saved = old, had = true;
    value ? setenv("RHONET_ISA", value, 1) : unsetenv("RHONET_ISA");
  }
  ~scoped_env() { had ? setenv("RHONET_ISA", saved.c_str(), 1) : unsetenv("RHONET_ISA"); }
  std::string saved;
  bool had = false;
};

}  // namespace

// Nets large enough that every threaded loop (core/parallel.hpp) splits in two at batch 160:
// the SGD update, BN with and without the fused ReLU, ReLU alone, im2col and col2im, and the
// NCHW permutations.
using wide_net = basic_network<float, input<300>, dense<256>, batch_norm<affine::scale>, relu, dense<256>,
                               relu, dense<2>>;
using wide_conv = basic_network<float, input<3, 9, 9>, conv2d<16, 3, 1, 1>, batch_norm<>, relu,
                                conv2d<8, 3, 2, 1>, relu, flatten, dense<2>>;

// rhonet's loops give the same bytes on one thread and on two: they split only along
// independent entries. OpenBLAS stays on one thread in both runs. The GEMMs, cut between the
// threads (core/blas.hpp), give the same bytes too with OpenBLAS's AVX-512 kernels; its
// Haswell kernels round a cut product differently, so with those the two-thread run keeps
// every GEMM whole and the test checks rhonet's other loops.
template <class Net>
void check_thread_counts_agree() {
  const int saved = threads();
  const bool cut_is_exact = detail::core_tier(openblas::corename()) >= detail::core_tier("SkylakeX");
  if (!cut_is_exact) BOOST_TEST_MESSAGE("OpenBLAS " << openblas::corename() << ": GEMMs kept whole on two threads");
  for (const auto& opt : optimisers) {
    set_threads(1);
    const auto one = train_bytes<Net>(kernel_isa(), opt, 160);
    set_threads(2);
    openblas::set_num_threads(1);
    blas::detail::cut_gemms = cut_is_exact;
    const auto two = train_bytes<Net>(kernel_isa(), opt, 160);
    blas::detail::cut_gemms = true;
    BOOST_TEST_INFO(Net::signature() << " momentum " << opt.momentum);
    BOOST_REQUIRE_EQUAL(one.size(), two.size());
    BOOST_CHECK(std::memcmp(one.data(), two.data(), one.size()) == 0);
  }
  set_threads(saved);
}

BOOST_AUTO_TEST_CASE(flat_thread_counts_agree) { check_thread_counts_agree<wide_net>(); }
BOOST_AUTO_TEST_CASE(conv_thread_counts_agree) { check_thread_counts_agree<wide_conv>(); }

BOOST_AUTO_TEST_CASE(flat_float_copies_agree) { check_copies_agree<flat_net<float>>(); }
BOOST_AUTO_TEST_CASE(flat_double_copies_agree) { check_copies_agree<flat_net<double>>(); }
BOOST_AUTO_TEST_CASE(conv_copies_agree) { check_copies_agree<conv_net>(); }

BOOST_AUTO_TEST_CASE(rhonet_isa_environment) {
  {
    scoped_env env("baseline");
    BOOST_CHECK(detail::detect_kernel_isa() == isa::baseline);
  }
  {
    scoped_env env(nullptr);
    BOOST_CHECK(detail::detect_kernel_isa() == (cpu_has_avx2() ? isa::avx2 : isa::baseline));
  }
  {
    scoped_env env("avx2");
    if (cpu_has_avx2())
      BOOST_CHECK(detail::detect_kernel_isa() == isa::avx2);
    else
      BOOST_CHECK_THROW(detail::detect_kernel_isa(), std::invalid_argument);
  }
  scoped_env env("sse9");
  try {
    detail::detect_kernel_isa();
    BOOST_ERROR("RHONET_ISA=sse9 was accepted");
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    BOOST_TEST_INFO(what);
    BOOST_CHECK(what.find("RHONET_ISA") != std::string::npos);
    BOOST_CHECK(what.find("\"sse9\"") != std::string::npos);
    BOOST_CHECK(what.find("baseline") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(set_kernel_isa_sticks) {
  restore_isa keep;
  set_kernel_isa(isa::baseline);
  BOOST_CHECK(kernel_isa() == isa::baseline);
  BOOST_CHECK_EQUAL(std::string(isa_name(kernel_isa())), "baseline");
  if (cpu_has_avx2()) {
    set_kernel_isa(isa::avx2);
    BOOST_CHECK(kernel_isa() == isa::avx2);
  }
}

// core/lanes.hpp: lane_sum adds in the order its comment states (the order the scalar code
// before it had, so that results did not change), and for_lanes visits every index of its
// run once, on runs shorter than, equal to and longer than the lanes, at unaligned starts.
template <class T>
void check_lanes() {
  std::vector<T> x(100);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = T(std::sin(double(i) * 1.7) * std::exp(double(i % 7)));
  const T* px = x.data();
  for (std::size_t first : {0, 1, 3, 8}) {
    for (std::size_t count = 0; count + first <= 90; ++count) {
      T expected = 0;
      if (count < 2 * detail::lane_count) {
        for (std::size_t s = first; s < first + count; ++s) expected += x[s] * x[s];
      } else {
        const std::size_t full = count / detail::lane_count * detail::lane_count;
        T lane[detail::lane_count] = {};
        for (std::size_t s = 0; s < full; ++s) lane[s % detail::lane_count] += x[first + s] * x[first + s];
        for (std::size_t s = full; s < count; ++s) expected += x[first + s] * x[first + s];
        for (const T l : lane) expected += l;
      }
      const T got = detail::lane_sum<T>(first, count, [&](auto at) { return at(px) * at(px); });
      BOOST_TEST_INFO("first " << first << " count " << count);
      BOOST_CHECK(std::memcmp(&got, &expected, sizeof(T)) == 0);

      std::vector<T> out(x.size(), T(-7));
      T* po = out.data();
      detail::for_lanes<T>(first, count, [&](auto at) { at.put(po, detail::keep_where_positive(at(px), at(px) + T(1))); });
      for (std::size_t s = 0; s < out.size(); ++s) {
        const T want = s >= first && s < first + count ? (x[s] > 0 ? x[s] + 1 : T(0)) : T(-7);
        BOOST_CHECK_EQUAL(out[s], want);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(lanes_keep_their_order_and_cover_every_index) {
  check_lanes<float>();
  check_lanes<double>();
}
