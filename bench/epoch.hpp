// The training epoch and the inference pass as a user writes them with rhonet's public API
// (the same calls as rhonet::train's inner loop, without its observations), timed one epoch
// per iteration. Hyperparameters match bench/compare_pytorch.py: batch 128, mean square loss,
// SGD lr 0.01 (FC4-BN) or 0.001 (Conv4-BN, which diverges at 0.01), momentum 0.9, weight
// decay 0.01, reshuffled every epoch, last partial batch kept.
#pragma once

#include <cmath>
#include <memory>
#include <stdexcept>
#include <vector>

#include "common.hpp"

#include <rhonet/core/subnormals.hpp>
#include <rhonet/data/batcher.hpp>
#include <rhonet/init.hpp>
#include <rhonet/loss.hpp>
#include <rhonet/optim.hpp>
#include <rhonet/predict.hpp>

namespace bench {

template <class Net>
struct epoch_runner {
  std::unique_ptr<Net> net = std::make_unique<Net>();
  rhonet::sgd<float> opt;
  rhonet::batcher<float> batches;
  rhonet::matrix<float> xb, yb, grad;
  const rhonet::square_loss loss{rhonet::reduction::mean};
  std::size_t steps = 0;

  epoch_runner(const rhonet::dataset<float>& data, double lr)
      : opt(init(*net), {.lr = lr, .momentum = 0.9, .weight_decay = 0.01}),
        batches(data, {.batch_size = batch, .seed = 1, .shuffle = true}) {}

  static std::vector<rhonet::parameter<float>*> init(Net& n) {
    auto ps = n.parameters();
    rhonet::init_frobenius(ps, 1.0, 1);
    return ps;
  }

  // in_backward: the update inside the backward pass (rhonet::backward_and_step), which gives
  // the same numbers.
  void run_epoch(bool in_backward = false) {
    while (batches.next(xb, yb)) {
      const float l = rhonet::loss_and_grad(loss, net->forward(xb, rhonet::mode::train), yb, grad);
      if (!std::isfinite(l)) throw std::runtime_error("benchmark training diverged");
      if (in_backward) {
        rhonet::backward_and_step(*net, grad, opt);
      } else {
        net->backward(grad);
        opt.step();
      }
      ++steps;
    }
  }
};

// One runner per network type, warmed up by one epoch the first time it is used, so that
// repetitions time steady-state epochs.
// The learning rate of each benchmarked net (see the top of this file).
template <class Net>
inline constexpr double learning_rate = Net::in_shape::rank == 1 ? 0.01 : 0.001;

template <class Net>
epoch_runner<Net>& runner(const rhonet::dataset<float>& data) {
  static std::unique_ptr<epoch_runner<Net>> r;
  if (!r) {
    r = std::make_unique<epoch_runner<Net>>(data, learning_rate<Net>);
    r->run_epoch();
  }
  return *r;
}

template <class Net>
void epoch_benchmark(benchmark::State& st, const rhonet::dataset<float>& data, double flops_per_epoch,
                     bool in_backward = false) {
  set_blas_threads(int(st.range(0)));
  auto& r = runner<Net>(data);
  r.run_epoch(in_backward);  // warm the thread pool at this thread count
  const auto a0 = allocations();
  const auto s0 = r.steps;
  for (auto _ : st) r.run_epoch(in_backward);
  const double epochs = double(st.iterations());
  st.counters["samples/s"] = benchmark::Counter(double(data.size()), benchmark::Counter::kIsIterationInvariantRate);
  st.counters["GFLOP/s"] = benchmark::Counter(flops_per_epoch * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["allocs/epoch"] = double(allocations() - a0) / epochs;
  st.counters["steps/epoch"] = double(r.steps - s0) / epochs;
}

// A steady-state step at batch 128: its allocation count is the zero-allocation guarantee.
template <class Net>
void step_benchmark(benchmark::State& st, const rhonet::dataset<float>& data, bool in_backward = false) {
  set_blas_threads(int(st.range(0)));
  auto& r = runner<Net>(data);
  rhonet::matrix<float> x = rhonet::matrix<float>::from_shape({batch, data.features()});
  rhonet::matrix<float> y = rhonet::matrix<float>::from_shape({batch, data.outputs()});
  std::copy(data.x.data(), data.x.data() + x.size(), x.data());
  std::copy(data.target.data(), data.target.data() + y.size(), y.data());
  auto step = [&] {
    rhonet::loss_and_grad(r.loss, r.net->forward(x, rhonet::mode::train), y, r.grad);
    if (in_backward) {
      rhonet::backward_and_step(*r.net, r.grad, r.opt);
    } else {
      r.net->backward(r.grad);
      r.opt.step();
    }
  };
  step();  // settles every buffer at this batch size
  std::uint64_t allocs = 0;  // counted around the step only, not the framework's own
  for (auto _ : st) {
    const auto a0 = allocations();
    step();
    allocs += allocations() - a0;
  }
  st.counters["samples/s"] = benchmark::Counter(double(batch), benchmark::Counter::kIsIterationInvariantRate);
  st.counters["allocs/step"] = double(allocs) / double(st.iterations());
}

// A steady-state step of a network stuck in subnormal numbers, as weight decay without batch
// norm leaves one (weights about 4e-41, activations and gradients below 1.2e-38), with
// subnormals flushed to zero (range(1) = 1, what the trainer does) or kept (0).
template <class Net>
void subnormal_step_benchmark(benchmark::State& st, const rhonet::dataset<float>& data) {
  set_blas_threads(int(st.range(0)));
  const rhonet::subnormal_flush flush(st.range(1) != 0);
  auto net = std::make_unique<Net>();
  auto ps = net->parameters();
  std::vector<double> norms;
  for (auto* p : ps) norms.push_back(4e-41 * std::sqrt(double(p->value.size())));
  rhonet::init_frobenius(ps, norms, 1);
  rhonet::sgd<float> opt(ps, {.lr = 0.01, .momentum = 0.9, .weight_decay = 0.01});
  rhonet::matrix<float> x = rhonet::matrix<float>::from_shape({batch, data.features()});
  rhonet::matrix<float> y = rhonet::matrix<float>::from_shape({batch, data.outputs()}), grad;
  std::copy(data.x.data(), data.x.data() + x.size(), x.data());
  std::copy(data.target.data(), data.target.data() + y.size(), y.data());
  const rhonet::square_loss loss{rhonet::reduction::mean};
  auto step = [&] {
    rhonet::loss_and_grad(loss, net->forward(x, rhonet::mode::train), y, grad);
    net->backward(grad);
    opt.step();
  };
  step();
  for (auto _ : st) step();
  std::size_t subnormal = 0, all = 0;
  for (auto* p : ps)
    for (float v : p->value) subnormal += std::fpclassify(v) == FP_SUBNORMAL, ++all;
  st.counters["subnormal_weights"] = double(subnormal) / double(all);  // the regime held
}

// Eval-mode forward over the whole training set in chunks of 1000 rows.
template <class Net>
void inference_benchmark(benchmark::State& st, const rhonet::dataset<float>& data, double flops_per_pass) {
  set_blas_threads(int(st.range(0)));
  auto& r = runner<Net>(data);
  constexpr std::size_t chunk = 1000;
  std::vector<rhonet::matrix<float>> chunks;
  for (std::size_t i = 0; i < data.size(); i += chunk) {
    const std::size_t n = std::min(chunk, data.size() - i);
    auto c = rhonet::matrix<float>::from_shape({n, data.features()});
    std::copy(data.x.data() + i * data.features(), data.x.data() + (i + n) * data.features(), c.data());
    chunks.push_back(std::move(c));
  }
  for (const auto& c : chunks) r.net->forward(c, rhonet::mode::eval);
  const auto a0 = allocations();
  for (auto _ : st)
    for (const auto& c : chunks) benchmark::DoNotOptimize(r.net->forward(c, rhonet::mode::eval).data());
  st.counters["samples/s"] = benchmark::Counter(double(data.size()), benchmark::Counter::kIsIterationInvariantRate);
  st.counters["GFLOP/s"] = benchmark::Counter(flops_per_pass * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["allocs/pass"] = double(allocations() - a0) / double(st.iterations());
}

// Latency of rhonet::predict on a small batch (range(0) rows, 1 to 16) with one thread: the
// inputs cycle through 64 distinct batches of the data set, the network is the trained one
// of the epoch rows. allocs/call is the zero-allocation guarantee of predict.
template <class Net>
void latency_benchmark(benchmark::State& st, const rhonet::dataset<float>& data) {
  const auto rows = static_cast<std::size_t>(st.range(0));
  set_blas_threads(1);
  auto& r = runner<Net>(data);
  std::vector<rhonet::matrix<float>> xs;
  for (std::size_t i = 0; i < 64; ++i) {
    auto x = rhonet::matrix<float>::from_shape({rows, data.features()});
    const float* from = data.x.data() + (i * rows % (data.size() - rows)) * data.features();
    std::copy(from, from + x.size(), x.data());
    xs.push_back(std::move(x));
  }
  for (const auto& x : xs) rhonet::predict(*r.net, x);
  const auto a0 = allocations();
  std::size_t i = 0;
  for (auto _ : st) benchmark::DoNotOptimize(rhonet::predict(*r.net, xs[i++ % xs.size()]).data());
  st.counters["allocs/call"] = double(allocations() - a0) / double(st.iterations());
  st.counters["samples/s"] = benchmark::Counter(double(rows), benchmark::Counter::kIsIterationInvariantRate);
}

// The memory bound of a small-batch forward pass: reading every parameter of the network once
// (the weights dominate), in 16 independent lanes so that the loop runs at the speed of the
// loads. Measured in the same binary and conditions as latency_benchmark: the weights stay in
// whatever cache level holds them between calls, as they do between predict calls.
template <class Net>
void weight_stream_benchmark(benchmark::State& st, const rhonet::dataset<float>& data) {
  set_blas_threads(1);
  auto& r = runner<Net>(data);
  const auto params = r.net->parameters();
  double bytes = 0;
  for (auto* p : params) bytes += double(p->value.size() * sizeof(float));
  for (auto _ : st) {
    float lanes[16] = {};  // local: its address never escapes, so the lanes stay in registers
    for (auto* p : params) {
      const float* v = p->value.data();
      const std::size_t n = p->value.size(), full = n / 16 * 16;
      for (std::size_t k = 0; k < full; k += 16)
        for (std::size_t l = 0; l < 16; ++l) lanes[l] += v[k + l];
      for (std::size_t k = full; k < n; ++k) lanes[0] += v[k];
    }
    float sum = 0;
    for (const float l : lanes) sum += l;
    benchmark::DoNotOptimize(sum);
  }
  st.counters["bytes"] = bytes;
  st.counters["GB/s"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

inline benchmark::internal::Benchmark* latency_args(benchmark::internal::Benchmark* b) {
  return with_stats(b)->ArgName("batch")->Arg(1)->Arg(2)->Arg(4)->Arg(8)->Arg(16)->Unit(benchmark::kMicrosecond);
}

// The batch sizes of one epoch over n samples (the last one partial).
inline std::vector<std::size_t> epoch_batches(std::size_t n) {
  std::vector<std::size_t> bs(n / batch, batch);
  if (n % batch) bs.push_back(n % batch);
  return bs;
}

inline benchmark::internal::Benchmark* epoch_args(benchmark::internal::Benchmark* b) {
  return with_stats(b)->UseRealTime()->Unit(benchmark::kSecond)->Iterations(1);
}

}  // namespace bench
