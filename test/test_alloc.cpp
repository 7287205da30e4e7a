// After the first step at a given batch size, a training step (forward, backward) allocates
// nothing: every workspace is sized once. Counts calls to the global operator new.
#define BOOST_TEST_MODULE rhonet_alloc
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <new>
#include <random>
#include <span>
#include <vector>

#include <zlib.h>

#include <rhonet/rhonet.hpp>

namespace {
std::atomic<long> allocations{0};
std::atomic<std::size_t> largest{0};  // the largest single request since it was last reset
}

void* operator new(std::size_t n) {
  ++allocations;
  for (std::size_t l = largest.load(); n > l && !largest.compare_exchange_weak(l, n);) {
  }
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t a) {
  ++allocations;
  const std::size_t al = static_cast<std::size_t>(a);
  if (void* p = std::aligned_alloc(al, (n + al - 1) / al * al)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

using namespace rhonet;

template <class Net>
long allocations_in_steady_step(std::size_t batch) {
  auto net = std::make_unique<Net>();
  std::mt19937_64 rng(1);
  std::normal_distribution<float> n(0.f, 0.1f);
  for (auto* p : net->parameters())
    for (auto& v : p->value) v = n(rng);
  matrix<float> x = matrix<float>::from_shape({batch, Net::input_size});
  for (auto& v : x) v = n(rng);
  matrix<float> dout = matrix<float>::from_shape({batch, Net::output_size});
  dout.fill(1.f);
  for (int i = 0; i < 2; ++i) {  // the first step sizes the workspaces
    net->forward(x, mode::train);
    net->backward(dout);
  }
  const long before = allocations.load();
  for (int i = 0; i < 3; ++i) {
    net->forward(x, mode::train);
    net->backward(dout);
    net->forward(x, mode::eval);
  }
  return allocations.load() - before;
}

BOOST_AUTO_TEST_CASE(fc4_bn_step_allocates_nothing) {
  const long n = allocations_in_steady_step<arch::fc4_bn<65, 32>>(16);
  BOOST_TEST(n == 0);
}
BOOST_AUTO_TEST_CASE(conv4_bn_step_allocates_nothing) {
  const long n = allocations_in_steady_step<arch::conv4_bn<1, 28>>(4);
  BOOST_TEST(n == 0);
}
BOOST_AUTO_TEST_CASE(weight_norm_step_allocates_nothing) {
  const long n = allocations_in_steady_step<arch::fc4_wn<65, 32>>(8);
  BOOST_TEST(n == 0);
}
// On two threads rhonet's own loops run in its pool (core/parallel.hpp): handing parts to it
// allocates nothing either (a std::function in the first version allocated 18 times a step).
// Sizes at which BN, ReLU, im2col and col2im all split.
BOOST_AUTO_TEST_CASE(steps_on_two_threads_allocate_nothing) {
  const int saved = threads();
  set_threads(2);
  const long fc = allocations_in_steady_step<arch::fc4_bn<785, 512>>(64);
  const long conv = allocations_in_steady_step<arch::conv4_bn<1, 28>>(32);
  set_threads(saved);
  BOOST_TEST(fc == 0);
  BOOST_TEST(conv == 0);
}

// The counter works: a changed batch size resizes the workspaces.
BOOST_AUTO_TEST_CASE(the_counter_sees_allocations) {
  const long before = allocations.load();
  auto net = std::make_unique<arch::fc4<9, 4>>();
  BOOST_TEST(allocations.load() > before);
}

// An epoch alternates between the full batch and its partial last batch: once both sizes
// have been seen, switching between them allocates nothing (network.hpp keeps two sets).
template <class Net>
long allocations_alternating_batches(std::size_t full, std::size_t last) {
  auto net = std::make_unique<Net>();
  std::mt19937_64 rng(2);
  std::normal_distribution<float> n(0.f, 0.1f);
  for (auto* p : net->parameters())
    for (auto& v : p->value) v = n(rng);
  matrix<float> xf = matrix<float>::from_shape({full, Net::input_size}), xl = matrix<float>::from_shape({last, Net::input_size});
  for (auto& v : xf) v = n(rng);
  for (auto& v : xl) v = n(rng);
  matrix<float> df = matrix<float>::from_shape({full, Net::output_size}), dl = matrix<float>::from_shape({last, Net::output_size});
  df.fill(1.f);
  dl.fill(1.f);
  auto step = [&](const matrix<float>& x, const matrix<float>& d) {
    net->forward(x, mode::train);
    net->backward(d);
  };
  step(xf, df);
  step(xl, dl);
  const long before = allocations.load();
  for (int epoch = 0; epoch < 3; ++epoch) {
    step(xf, df);
    step(xf, df);
    step(xl, dl);
  }
  return allocations.load() - before;
}

BOOST_AUTO_TEST_CASE(partial_last_batch_allocates_nothing_once_seen) {
  BOOST_TEST((allocations_alternating_batches<arch::fc4_bn<65, 32>>(16, 5)) == 0);
  BOOST_TEST((allocations_alternating_batches<arch::conv4_bn<1, 28>>(4, 3)) == 0);
  BOOST_TEST((allocations_alternating_batches<arch::fc4_wn<65, 32>>(8, 3)) == 0);
}

// The fault guard's per-step checks (train/fault_guard.hpp: batch, loss, gradients, weights)
// allocate nothing while everything is finite, and the batcher's steady batches neither.
BOOST_AUTO_TEST_CASE(fault_checks_in_a_step_allocate_nothing) {
  auto net = std::make_unique<arch::fc4_bn<65, 32>>();
  std::mt19937_64 rng(2);
  std::normal_distribution<float> n(0.f, 0.1f);
  dataset<float> d;
  d.x = matrix<float>::from_shape({32, 65});
  d.target = matrix<float>::from_shape({32, 1});
  for (auto& v : d.x) v = n(rng);
  d.target.fill(1.f);
  d.label.assign(32, 0);
  for (auto* p : net->parameters())
    for (auto& v : p->value) v = n(rng);
  batcher<float> b(d, {.batch_size = 8, .seed = 1});
  matrix<float> x, y, dout = matrix<float>::from_shape({8, 1});
  dout.fill(1.f);
  b.next(x, y);
  net->forward(x, mode::train);
  net->backward(dout);  // sets every gradient
  const auto params = net->parameters();
  model_of<arch::fc4_bn<65, 32>> m(*net);
  trainer<float> t(m, d, {.epochs = 1, .batch = 8});
  fault_guard<float> guard;
  guard.on_begin(t);
  std::size_t found = 0;
  const long before = allocations.load();
  for (int i = 0; i < 3; ++i) {
    b.next(x, y);
    const step_report<float> r{1, std::size_t(i + 1), 8, 0.5, 0, x, y};
    try {
      guard.on_batch(t, r);
      guard.on_backward(t, r);
      guard.on_step(t, r);
    } catch (const training_diverged&) {
      ++found;
    }
  }
  BOOST_TEST(allocations.load() - before == 0);
  BOOST_TEST(found == 0u);
  // and the check does see a fault (which may allocate its message)
  params[2]->grad(0, 1) = std::numeric_limits<float>::infinity();
  BOOST_TEST(detail::non_finite_in(params, true) == params[2]->name + ", entry 1 is inf");
}

// A process of one: the data-parallel path of the trainer (slicing, the sums) with sums
// that change nothing.
struct process_of_one final : process_group {
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void sum(std::span<float>) const override {}
  void sum(std::span<double>) const override {}
};

// The trainer's steps after the first ones, from on_batch to on_step (forward, loss,
// backward, the sums of a data-parallel run, the update), allocate nothing.
void trainer_steps_allocate_nothing(const process_group* group) {
  auto net = std::make_unique<arch::fc4_bn<65, 32>>();
  init_frobenius(net->parameters(), 1.0, 3);
  dataset<float> d;
  d.x = matrix<float>::from_shape({64, 65});
  d.target = matrix<float>::from_shape({64, 1});
  std::mt19937_64 rng(4);
  std::normal_distribution<float> n(0.f, 1.f);
  for (auto& v : d.x) v = n(rng);
  for (std::size_t i = 0; i < 64; ++i) {
    d.label.push_back(int(i % 2));
    d.target(i, 0) = i % 2 ? -1.f : 1.f;
  }
  struct counter : run_observer<float> {
    long at_batch = 0, in_steps = 0;
    void on_batch(trainer<float>&, const step_report<float>&) override { at_batch = allocations.load(); }
    void on_step(trainer<float>&, const step_report<float>& r) override {
      if (r.step > 2) in_steps += allocations.load() - at_batch;
    }
  } c;
  model_of<arch::fc4_bn<65, 32>> m(*net);
  trainer<float> t(m, d, {.epochs = 2, .batch = 8, .sgd = {.lr = 0.01, .momentum = 0.9, .weight_decay = 0.01},
                          .group = group});
  t.add(c);
  t.run();
  BOOST_TEST(c.in_steps == 0);
}

BOOST_AUTO_TEST_CASE(trainer_steps_allocate_nothing_alone_and_in_a_group) {
  trainer_steps_allocate_nothing(nullptr);
  const process_of_one one;
  trainer_steps_allocate_nothing(&one);
}

// predict() allocates nothing once it has run at a batch size, also when single samples
// alternate with a batch (the network keeps both sizes' buffers); its first call does.
BOOST_AUTO_TEST_CASE(predict_allocates_nothing_after_the_first_call) {
  auto net = std::make_unique<arch::conv4_bn<1, 28>>();
  std::mt19937_64 rng(4);
  std::normal_distribution<float> n(0.f, 0.1f);
  for (auto* p : net->parameters())
    for (auto& v : p->value) v = n(rng);
  matrix<float> xb = matrix<float>::from_shape({8, 784}), x1 = matrix<float>::from_shape({1, 784});
  for (auto& v : xb) v = n(rng);
  for (auto& v : x1) v = n(rng);
  long before = allocations.load();
  predict(*net, xb);
  BOOST_TEST(allocations.load() > before);
  predict(*net, x1);
  before = allocations.load();
  float sum = 0;
  for (int i = 0; i < 3; ++i) {
    sum += predict(*net, xb)(7, 0);
    sum += predict(*net, x1)(0, 0);
  }
  BOOST_TEST(allocations.load() - before == 0);
  BOOST_TEST(std::isfinite(sum));
}

// A .gz whose trailer claims 4 GiB of content but whose data is broken from its first byte:
// the decoder must not allocate what the trailer claims (it allocated up to 1100 times the
// file's size, 18 MB here, before reading any data) and reports the broken stream.
BOOST_AUTO_TEST_CASE(a_forged_gzip_trailer_does_not_size_the_buffer) {
  std::vector<std::uint8_t> gz = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};  // gzip header, deflate
  gz.resize(16384, 0xff);                                              // an invalid block type
  for (int i = 0; i < 4; ++i) gz[gz.size() - 1 - i] = 0xff;            // ISIZE: 4 GiB - 1
  largest = 0;
  BOOST_CHECK_THROW(decode_file_bytes(gz, "forged.gz"), data_error);
  BOOST_TEST(largest.load() <= std::size_t{1} << 16);
}

// Content larger than the first buffer still decodes whole, plain and as concatenated members.
BOOST_AUTO_TEST_CASE(gzip_content_beyond_the_first_buffer_decodes_whole) {
  std::vector<std::uint8_t> content(300000);
  std::mt19937 rng(3);
  for (auto& c : content) c = std::uint8_t(rng() % 7);  // compressible, not trivially
  auto gzip = [](const std::uint8_t* data, std::size_t n) {
    z_stream zs{};
    BOOST_REQUIRE(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    std::vector<std::uint8_t> out(deflateBound(&zs, uLong(n)) + 32);
    zs.next_in = const_cast<Bytef*>(data);
    zs.avail_in = uInt(n);
    zs.next_out = out.data();
    zs.avail_out = uInt(out.size());
    BOOST_REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
  };
  const auto one = gzip(content.data(), content.size());
  BOOST_TEST((decode_file_bytes(one, "one.gz").bytes == content));
  auto two = gzip(content.data(), 70000);  // the last member's trailer states only its own part
  const auto rest = gzip(content.data() + 70000, content.size() - 70000);
  two.insert(two.end(), rest.begin(), rest.end());
  BOOST_TEST((decode_file_bytes(two, "two.gz").bytes == content));
}
