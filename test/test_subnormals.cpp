// Flushing subnormal numbers (core/subnormals.hpp): inside a subnormal_flush scope a
// subnormal result is 0 and a subnormal input reads as 0, outside both stay; scopes nest and
// restore the thread's mode; rhonet's pool runs every part of a loop in the mode of the
// thread that started it.
#define BOOST_TEST_MODULE rhonet_subnormals
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include <rhonet/core/blas.hpp>
#include <rhonet/core/parallel.hpp>
#include <rhonet/core/subnormals.hpp>
#include <rhonet/core/threads.hpp>

namespace utf = boost::unit_test;

namespace {

// volatile: computed at run time, in the thread's mode, never folded by the compiler.
float product(float a, float b) {
  volatile float x = a, y = b;
  return x * y;
}

float smallest_subnormal() {
  const std::uint32_t bits = 1;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

bool subnormal(float v) { return std::fpclassify(v) == FP_SUBNORMAL; }

bool can_flush(utf::test_unit_id) { return rhonet::can_flush_subnormals; }

}  // namespace

BOOST_AUTO_TEST_CASE(the_scope_flushes_results_and_inputs, *utf::precondition(can_flush)) {
  const bool before = rhonet::flushing_subnormals();
  BOOST_TEST_REQUIRE(!before);  // a process starts without flushing
  BOOST_TEST(subnormal(product(1e-30f, 1e-10f)));                    // a subnormal result
  BOOST_TEST(product(smallest_subnormal(), 1e30f) > 1e-16f);         // a subnormal input
  {
    rhonet::subnormal_flush flush;
    BOOST_TEST(rhonet::flushing_subnormals());
    BOOST_TEST(product(1e-30f, 1e-10f) == 0.0f);
    BOOST_TEST(product(smallest_subnormal(), 1e30f) == 0.0f);
    BOOST_TEST(product(1e-20f, 1e-10f) == 1e-30f);  // normal numbers as before
    {
      rhonet::subnormal_flush keep(false);  // a scope that keeps them, inside one that flushes
      BOOST_TEST(!rhonet::flushing_subnormals());
      BOOST_TEST(subnormal(product(1e-30f, 1e-10f)));
    }
    BOOST_TEST(rhonet::flushing_subnormals());
  }
  BOOST_TEST(rhonet::flushing_subnormals() == before);
  BOOST_TEST(subnormal(product(1e-30f, 1e-10f)));
}

// Two parts on two threads: part 0 waits (up to 10 s) until part 1 has begun, so that a pool
// worker takes one of them; each part records its thread, its mode and a subnormal product.
BOOST_AUTO_TEST_CASE(pool_workers_follow_the_caller, *utf::precondition(can_flush)) {
  const int threads_before = rhonet::threads();
  rhonet::set_threads(2);
  for (bool flush : {true, false, true}) {
    BOOST_TEST_CONTEXT("flush " << flush) {
      rhonet::subnormal_flush scope(flush);
      std::atomic<bool> second_began{false};
      std::thread::id who[2];
      bool mode[2] = {};
      float result[2] = {};
      rhonet::detail::parallel_parts(2, 1, [&](std::size_t part, std::size_t, std::size_t) {
        if (part == 1) second_began = true;
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (part == 0 && !second_began && std::chrono::steady_clock::now() < until) std::this_thread::yield();
        who[part] = std::this_thread::get_id();
        mode[part] = rhonet::flushing_subnormals();
        result[part] = product(1e-30f, 1e-10f);
      });
      BOOST_TEST(who[0] != who[1]);  // a worker ran one part
      for (int p = 0; p < 2; ++p) {
        BOOST_TEST(mode[p] == flush);
        BOOST_TEST((flush ? result[p] == 0.0f : subnormal(result[p])));
      }
    }
  }
  rhonet::set_threads(threads_before);
}

// A GEMM large enough to be cut into a block per thread (core/blas.hpp): its blocks run on the
// pool too, so inside a flushing scope every product of two tiny values is 0 in both halves of
// C, and outside it they stay subnormal. Repeated: a worker that was asleep leaves both blocks
// to the caller, which proves nothing about the worker's mode.
BOOST_AUTO_TEST_CASE(cut_gemms_follow_the_caller, *utf::precondition(can_flush)) {
  const int threads_before = rhonet::threads();
  rhonet::set_threads(2);
  const std::size_t m = 32, n = 4096, k = 64;
  std::vector<float> a(m * k, 1e-20f), b(k * n, 1e-20f), c(m * n);
  for (bool flush : {true, false}) {
    BOOST_TEST_CONTEXT("flush " << flush) {
      rhonet::subnormal_flush scope(flush);
      std::size_t wrong = 0;
      for (int round = 0; round < 20; ++round) {
        rhonet::blas::gemm<float>(false, false, m, n, k, 1.f, a.data(), k, b.data(), n, 0.f, c.data(), n);
        for (float v : c) wrong += flush ? v != 0.0f : !subnormal(v);
      }
      BOOST_TEST(wrong == 0u);
    }
  }
  rhonet::set_threads(threads_before);
}
