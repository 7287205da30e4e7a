// Google Benchmark rows for your own layers and networks, each next to the GEMMs it makes
// (rows sgemm/...), so that a layer's GFLOP/s reads against the GEMM limit of the same shapes
// in the same run (docs/performance.md; bench/ measures the library's own shapes this way).
// Needs Google Benchmark (Debian: libbenchmark-dev; CMake: benchmark::benchmark).
//
//   rhonet::bench::add_layer<rhonet::dense<512>, rhonet::shape<785>>("dense/785x512");
//   rhonet::bench::add_network<my_net>("my_net");      // a training step and a prediction
//   return rhonet::bench::main(argc, argv);             // or your own benchmark main
//
// Rows (batch 128 unless given): NAME/forward, NAME/backward (one forward pass outside the
// timed loop), NAME/train_step (forward in train mode, backward, no update) and
// NAME/predict (eval mode), each with the counters GFLOP/s (of its GEMMs) and samples/s; the
// sgemm/NAME/... rows run those GEMMs alone on random operands. Layers without GEMMs (batch
// norm, relu, pooling) get no GEMM row and a GFLOP/s of 0. Each row runs at the BLAS thread
// counts given (1 by default); Google Benchmark's flags (--benchmark_filter, ...) apply.
#pragma once

#if !__has_include(<benchmark/benchmark.h>)
#error "rhonet/bench.hpp needs Google Benchmark (Debian: libbenchmark-dev; CMake: link benchmark::benchmark)"
#endif

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include <rhonet/core/blas.hpp>
#include <rhonet/core/blas_kernels.hpp>
#include <rhonet/core/ensure_blas_kernels.hpp>
#include <rhonet/core/parameter.hpp>
#include <rhonet/core/tensor.hpp>
#include <rhonet/core/threads.hpp>
#include <rhonet/layers/layer.hpp>

namespace rhonet::bench {

// One GEMM C (m x n) = op(A) (m x k) op(B) (k x n).
struct gemm {
  bool trans_a = false, trans_b = false;
  std::size_t m = 0, n = 0, k = 0;
  double flops() const { return 2.0 * double(m) * double(n) * double(k); }
};

inline double flops(const std::vector<gemm>& gs) {
  double f = 0;
  for (const gemm& g : gs) f += g.flops();
  return f;
}

// The GEMMs of a bound layer L on a batch: dense Y = X W^T, dW = dY^T X, dX = dY W; conv2d
// (im2col on the batch's output pixels) Yc = W cols, dW = dYc cols^T, dcols = W^T dYc;
// weight_norm those of the layer it wraps; none for the others.
template <class L>
std::vector<gemm> forward_gemms(std::size_t batch) {
  if constexpr (requires { typename L::inner_type; }) {
    return forward_gemms<typename L::inner_type>(batch);
  } else if constexpr (requires { L::patch; L::pixels; }) {
    const std::size_t oc = L::out_shape::dims[0];
    return {{false, false, oc, batch * L::pixels, L::patch}};
  } else if constexpr (requires { L::fan_in; }) {
    return {{false, true, batch, L::out_shape::size, L::fan_in}};
  } else {
    return {};
  }
}
// `input_gradient`: false for a network's first layer, which computes no input gradient.
template <class L>
std::vector<gemm> backward_gemms(std::size_t batch, bool input_gradient = true) {
  std::vector<gemm> g;
  if constexpr (requires { typename L::inner_type; }) {
    return backward_gemms<typename L::inner_type>(batch, input_gradient);
  } else if constexpr (requires { L::patch; L::pixels; }) {
    const std::size_t oc = L::out_shape::dims[0];
    g.push_back({false, true, oc, L::patch, batch * L::pixels});
    if (input_gradient) g.push_back({true, false, L::patch, batch * L::pixels, oc});
  } else if constexpr (requires { L::fan_in; }) {
    const std::size_t n = L::out_shape::size;
    g.push_back({true, false, n, L::fan_in, batch});
    if (input_gradient) g.push_back({false, false, batch, L::fan_in, n});
  }
  return g;
}

// Every GEMM of a network's forward pass, or of its forward and backward passes.
template <class Net>
std::vector<gemm> network_gemms(std::size_t batch, bool with_backward) {
  std::vector<gemm> all;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    auto add = [&]<std::size_t i>() {
      using L = typename Net::template layer_type<i>;
      for (const gemm& g : forward_gemms<L>(batch)) all.push_back(g);
      if (with_backward)
        for (const gemm& g : backward_gemms<L>(batch, i > 0)) all.push_back(g);
    };
    (add.template operator()<I>(), ...);
  }(std::make_index_sequence<Net::layer_count>{});
  return all;
}

// A rows x cols matrix of N(0, 1) entries.
template <class T = float>
matrix<T> random_matrix(std::size_t rows, std::size_t cols, std::uint64_t seed) {
  matrix<T> m = matrix<T>::from_shape({rows, cols});
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> n(0.0, 1.0);
  for (auto& v : m) v = T(n(rng));
  return m;
}

inline void set_counters(benchmark::State& st, double flops_per_iteration, std::size_t batch) {
  st.counters["GFLOP/s"] = benchmark::Counter(flops_per_iteration * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["samples/s"] = benchmark::Counter(double(batch), benchmark::Counter::kIsIterationInvariantRate);
}

// The body of an sgemm/... row: the GEMMs alone, on random operands of their shapes.
template <class T = float>
void run_gemms(benchmark::State& st, const std::vector<gemm>& gs, std::size_t batch) {
  set_threads(int(st.range(0)));
  std::vector<matrix<T>> a, b, c;
  for (std::size_t i = 0; i < gs.size(); ++i) {
    a.push_back(random_matrix<T>(gs[i].m, gs[i].k, 2 * i + 1));
    b.push_back(random_matrix<T>(gs[i].k, gs[i].n, 2 * i + 2));
    c.push_back(matrix<T>::from_shape({gs[i].m, gs[i].n}));
  }
  for (auto _ : st) {
    for (std::size_t i = 0; i < gs.size(); ++i) {
      const gemm& g = gs[i];
      blas::gemm<T>(g.trans_a, g.trans_b, g.m, g.n, g.k, T(1), a[i].data(), g.trans_a ? g.m : g.k, b[i].data(),
                    g.trans_b ? g.k : g.n, T(0), c[i].data(), g.n);
    }
    benchmark::ClobberMemory();
  }
  set_counters(st, flops(gs), batch);
}

// The body of a layer's row: Spec bound to input shape In, random parameters and input.
template <class Spec, class In, class T = float>
void run_layer(benchmark::State& st, bool backward, std::size_t batch) {
  set_threads(int(st.range(0)));
  using L = typename Spec::template bind<T, 1, In>;
  auto layer = std::make_unique<L>();  // parameters on the heap, as in a network
  std::uint64_t seed = 10;
  layer->for_each_param(
      [&](parameter<T>& p) { p.value = random_matrix<T>(p.value.shape()[0], p.value.shape()[1], seed++); });
  const matrix<T> x = random_matrix<T>(batch, In::size, 1), dy = random_matrix<T>(batch, L::out_shape::size, 2);
  matrix<T> y = matrix<T>::from_shape({batch, L::out_shape::size}), dx = matrix<T>::from_shape({batch, In::size});
  layer->resize(batch);
  layer->forward(x, y, mode::train);
  if (backward) layer->backward(x, y, dy, &dx);
  for (auto _ : st) {
    if (backward) layer->backward(x, y, dy, &dx);
    else layer->forward(x, y, mode::train);
    benchmark::ClobberMemory();
  }
  set_counters(st, flops(backward ? backward_gemms<L>(batch) : forward_gemms<L>(batch)), batch);
}

// The body of a network's rows: a training step's forward and backward (no update), or a
// prediction in eval mode.
template <class Net>
void run_network(benchmark::State& st, bool train, std::size_t batch) {
  using T = typename Net::value_type;
  set_threads(int(st.range(0)));
  auto net = std::make_unique<Net>();
  std::uint64_t seed = 10;
  for (parameter<T>* p : net->parameters()) p->value = random_matrix<T>(p->value.shape()[0], p->value.shape()[1], seed++);
  const matrix<T> x = random_matrix<T>(batch, Net::input_size, 1), dy = random_matrix<T>(batch, Net::output_size, 2);
  net->forward(x, mode::train);
  if (train) net->backward(dy);
  for (auto _ : st) {
    if (train) {
      net->forward(x, mode::train);
      net->backward(dy);
    } else {
      net->forward(x, mode::eval);
    }
    benchmark::ClobberMemory();
  }
  set_counters(st, flops(network_gemms<Net>(batch, train)), batch);
}

// A row with the conventions above: real time in microseconds, one argument (BLAS threads).
inline benchmark::internal::Benchmark* add_row(const std::string& name, std::function<void(benchmark::State&)> fn,
                                               std::vector<int> threads) {
  auto* b = benchmark::RegisterBenchmark(name.c_str(), [fn](benchmark::State& st) { fn(st); });
  b->ArgName("blas_threads")->UseRealTime()->Unit(benchmark::kMicrosecond);
  for (int t : threads) b->Arg(t);
  return b;
}

// NAME/forward, NAME/backward of layer Spec on input shape In, and their sgemm/ rows.
template <class Spec, class In, class T = float>
void add_layer(const std::string& name, std::size_t batch = 128, std::vector<int> threads = {1}) {
  static_assert(layer_spec<Spec>, "rhonet::bench::add_layer<Spec, In>: Spec is a layer as written in network<...>");
  using L = typename Spec::template bind<T, 1, In>;
  add_row(name + "/forward", [batch](benchmark::State& st) { run_layer<Spec, In, T>(st, false, batch); }, threads);
  add_row(name + "/backward", [batch](benchmark::State& st) { run_layer<Spec, In, T>(st, true, batch); }, threads);
  if (const auto f = forward_gemms<L>(batch); !f.empty())
    add_row("sgemm/" + name + "/forward", [f, batch](benchmark::State& st) { run_gemms<T>(st, f, batch); }, threads);
  if (const auto b = backward_gemms<L>(batch); !b.empty())
    add_row("sgemm/" + name + "/backward", [b, batch](benchmark::State& st) { run_gemms<T>(st, b, batch); }, threads);
}

// NAME/train_step, NAME/predict of network type Net, and their sgemm/ rows.
template <class Net>
void add_network(const std::string& name, std::size_t batch = 128, std::vector<int> threads = {1}) {
  using T = typename Net::value_type;
  add_row(name + "/train_step", [batch](benchmark::State& st) { run_network<Net>(st, true, batch); }, threads);
  add_row(name + "/predict", [batch](benchmark::State& st) { run_network<Net>(st, false, batch); }, threads);
  if (const auto t = network_gemms<Net>(batch, true); !t.empty())
    add_row("sgemm/" + name + "/train_step", [t, batch](benchmark::State& st) { run_gemms<T>(st, t, batch); },
            threads);
  if (const auto p = network_gemms<Net>(batch, false); !p.empty())
    add_row("sgemm/" + name + "/predict", [p, batch](benchmark::State& st) { run_gemms<T>(st, p, batch); }, threads);
}

// A benchmark main: moves OpenBLAS onto the CPU's best kernels first (a Prescott fallback
// makes every number 3-4x low), records the kernel set in the report's context, runs the
// registered rows.
inline int main(int argc, char** argv) {
  ensure_blas_kernels(argc, argv);  // before Initialize, which edits argv
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const blas_kernels blas = blas_kernels_status();
  benchmark::AddCustomContext("openblas_corename", blas.running.empty() ? "n/a" : blas.running);
  benchmark::AddCustomContext("openblas_best_coretype", blas.best.empty() ? "n/a" : blas.best);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace rhonet::bench
