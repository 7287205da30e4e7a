// Conv4-BN on 1 x 28 x 28 Fashion-MNIST images (the paper's convolutional net): training
// epoch, steady-state step, inference pass and small-batch latency.
#include "epoch.hpp"

#include <rhonet/architectures.hpp>

namespace {

using conv4_bn = rhonet::arch::conv4_bn<1, 28>;

// Multiply-adds per sample, forward: 32x14x14 x 9, 64x7x7 x 288, 128x4x4 x 576, 1 x 2048.
constexpr double macs = 32.0 * 196 * 9 + 64.0 * 49 * 288 + 128.0 * 16 * 576 + 2048.0;
// Training: forward, weight gradients (same), input gradients of convs 2-4.
constexpr double train_flops_per_sample = 2.0 * (2 * macs + (macs - 32.0 * 196 * 9));

const bool registered = [] {
  bench::epoch_args(benchmark::RegisterBenchmark("conv4_bn_epoch", [](benchmark::State& st) {
    bench::epoch_benchmark<conv4_bn>(st, bench::image_data(), train_flops_per_sample * double(bench::image_data().size()));
  }))->ArgName("blas_threads")->Arg(1)->Arg(2);
  bench::epoch_args(benchmark::RegisterBenchmark("conv4_bn_inference", [](benchmark::State& st) {
    bench::inference_benchmark<conv4_bn>(st, bench::image_data(), 2.0 * macs * double(bench::image_data().size()));
  }))->ArgName("blas_threads")->Arg(1)->Arg(2);
  bench::with_stats(benchmark::RegisterBenchmark("conv4_bn_step", [](benchmark::State& st) {
    bench::step_benchmark<conv4_bn>(st, bench::image_data());
  }))->ArgName("blas_threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
  bench::epoch_args(benchmark::RegisterBenchmark("conv4_bn_epoch_in_backward", [](benchmark::State& st) {
    bench::epoch_benchmark<conv4_bn>(st, bench::image_data(), train_flops_per_sample * double(bench::image_data().size()),
                                     true);
  }))->ArgName("blas_threads")->Arg(1)->Arg(2);
  bench::with_stats(benchmark::RegisterBenchmark("conv4_bn_step_in_backward", [](benchmark::State& st) {
    bench::step_benchmark<conv4_bn>(st, bench::image_data(), true);
  }))->ArgName("blas_threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
  bench::latency_args(benchmark::RegisterBenchmark("conv4_bn_latency", [](benchmark::State& st) {
    bench::latency_benchmark<conv4_bn>(st, bench::image_data());
  }));
  bench::with_stats(benchmark::RegisterBenchmark("conv4_bn_weight_stream", [](benchmark::State& st) {
    bench::weight_stream_benchmark<conv4_bn>(st, bench::image_data());
  }))->Unit(benchmark::kMicrosecond);
  return true;
}();

}  // namespace
