// FC4-BN (785 -> W -> W -> W -> 1, the paper's fully connected net): training epoch,
// steady-state step, inference pass, and the GEMM-only bound of the same epoch, registered
// per width W by the generated units fc_steps_W.cpp (fc_steps.cpp.in), one width per unit.
#pragma once

#include <string>

#include "epoch.hpp"

#include <rhonet/architectures.hpp>
#include <rhonet/core/blas.hpp>

namespace bench::fc {


inline constexpr std::size_t D = 785;

// Multiply-adds of one sample through the net, forward.
constexpr double macs(std::size_t W) { return double(D * W + 2 * W * W + W); }
// Training: forward, weight gradients (same), input gradients of layers 2-4.
inline double train_flops(std::size_t W, std::size_t n) {
  return 2.0 * double(n) * (2 * macs(W) + double(2 * W * W + W));
}

template <std::size_t W>
using fc4_bn = rhonet::arch::fc4_bn<D, W>;

// The epoch's GEMMs alone, with the same shapes and calls as the network makes.
template <std::size_t W>
void gemm_only(benchmark::State& st) {
  bench::set_blas_threads(int(st.range(0)));
  using rhonet::matrix;
  constexpr std::size_t B = bench::batch;
  const matrix<float> x = bench::random_matrix(B, D, 1), w1 = bench::random_matrix(W, D, 2),
                      w = bench::random_matrix(W, W, 3), w4 = bench::random_matrix(1, W, 4);
  matrix<float> h = bench::random_matrix(B, W, 5), out = matrix<float>::from_shape({B, 1}),
                dh = bench::random_matrix(B, W, 6), dout = bench::random_matrix(B, 1, 7),
                gw1 = matrix<float>::from_shape({W, D}), gw = matrix<float>::from_shape({W, W}),
                gw4 = matrix<float>::from_shape({1, W}), tmp = matrix<float>::from_shape({B, W});
  const auto sizes = bench::epoch_batches(bench::flat_data().size());
  auto gemm = [](bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const float* a,
                 std::size_t lda, const float* b, std::size_t ldb, float* c, std::size_t ldc) {
    rhonet::blas::gemm<float>(ta, tb, m, n, k, 1.f, a, lda, b, ldb, 0.f, c, ldc);
  };
  for (auto _ : st) {
    for (const std::size_t n : sizes) {
      gemm(false, true, n, W, D, x.data(), D, w1.data(), D, tmp.data(), W);    // layer 1
      gemm(false, true, n, W, W, h.data(), W, w.data(), W, tmp.data(), W);     // layer 2
      gemm(false, true, n, W, W, h.data(), W, w.data(), W, tmp.data(), W);     // layer 3
      gemm(false, true, n, 1, W, h.data(), W, w4.data(), W, out.data(), 1);    // layer 4
      gemm(true, false, 1, W, n, dout.data(), 1, h.data(), W, gw4.data(), W);  // dW4
      gemm(false, false, n, W, 1, dout.data(), 1, w4.data(), W, dh.data(), W); // dH3
      for (int l = 0; l < 2; ++l) {                                            // layers 3, 2
        gemm(true, false, W, W, n, dh.data(), W, h.data(), W, gw.data(), W);
        gemm(false, false, n, W, W, dh.data(), W, w.data(), W, tmp.data(), W);
      }
      gemm(true, false, W, D, n, dh.data(), W, x.data(), D, gw1.data(), D);    // dW1
    }
    benchmark::ClobberMemory();
  }
  st.counters["GFLOP/s"] = benchmark::Counter(train_flops(W, bench::flat_data().size()) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

template <std::size_t W>
void add_width() {
  const std::string w = "/W:" + std::to_string(W);
  const auto& data = bench::flat_data;
  bench::epoch_args(benchmark::RegisterBenchmark(("fc4_bn_epoch" + w).c_str(), [](benchmark::State& st) {
    bench::epoch_benchmark<fc4_bn<W>>(st, bench::flat_data(), train_flops(W, bench::flat_data().size()));
  }))->ArgName("blas_threads")->Arg(1)->Arg(2);
  bench::epoch_args(benchmark::RegisterBenchmark(("fc4_bn_gemm_only" + w).c_str(), gemm_only<W>))
      ->ArgName("blas_threads")->Arg(1)->Arg(2);
  bench::epoch_args(benchmark::RegisterBenchmark(("fc4_bn_inference" + w).c_str(), [](benchmark::State& st) {
    bench::inference_benchmark<fc4_bn<W>>(st, bench::flat_data(), 2.0 * macs(W) * double(bench::flat_data().size()));
  }))->ArgName("blas_threads")->Arg(1)->Arg(2);
  bench::with_stats(benchmark::RegisterBenchmark(("fc4_bn_step" + w).c_str(), [](benchmark::State& st) {
    bench::step_benchmark<fc4_bn<W>>(st, bench::flat_data());
  }))->ArgName("blas_threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
  // The same, with the update inside the backward pass (same numbers, less memory traffic).
  bench::epoch_args(benchmark::RegisterBenchmark(("fc4_bn_epoch_in_backward" + w).c_str(), [](benchmark::State& st) {
    bench::epoch_benchmark<fc4_bn<W>>(st, bench::flat_data(), train_flops(W, bench::flat_data().size()), true);
  }))->ArgName("blas_threads")->Arg(1)->Arg(2);
  bench::with_stats(benchmark::RegisterBenchmark(("fc4_bn_step_in_backward" + w).c_str(), [](benchmark::State& st) {
    bench::step_benchmark<fc4_bn<W>>(st, bench::flat_data(), true);
  }))->ArgName("blas_threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
  // Small-batch latency of predict and the memory bound it is compared with.
  bench::latency_args(benchmark::RegisterBenchmark(("fc4_bn_latency" + w).c_str(), [](benchmark::State& st) {
    bench::latency_benchmark<fc4_bn<W>>(st, bench::flat_data());
  }));
  bench::with_stats(benchmark::RegisterBenchmark(("fc4_bn_weight_stream" + w).c_str(), [](benchmark::State& st) {
    bench::weight_stream_benchmark<fc4_bn<W>>(st, bench::flat_data());
  }))->Unit(benchmark::kMicrosecond);
  // A plain FC4 stuck in subnormal numbers, flushed or not (one width is enough).
  if constexpr (W == 512)
    bench::with_stats(benchmark::RegisterBenchmark(("fc4_subnormal_step" + w).c_str(), [](benchmark::State& st) {
      bench::subnormal_step_benchmark<rhonet::arch::fc4<D, W>>(st, bench::flat_data());
    }))->ArgNames({"blas_threads", "flush"})->Args({1, 0})->Args({1, 1})->UseRealTime()->Unit(benchmark::kMillisecond);
  (void)data;
}

}  // namespace bench::fc
