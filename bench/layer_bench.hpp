// The helpers of the layer benchmarks (layers_*.cpp): a layer's forward or backward at batch
// 128 next to the raw sgemm calls it makes, so that GFLOP/s of a layer can be read against
// the GEMM limit of the same shapes in the same run.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common.hpp"

#include <rhonet/core/blas.hpp>
#include <rhonet/core/shape.hpp>
#include <rhonet/layers/conv2d.hpp>
#include <rhonet/layers/dense.hpp>
#include <rhonet/optim.hpp>

namespace bench::layers {


using rhonet::matrix;
using rhonet::shape;

struct gemm_shape {
  bool trans_a, trans_b;
  std::size_t m, n, k;
  double flops() const { return 2.0 * double(m) * double(n) * double(k); }
};

inline double total_flops(const std::vector<gemm_shape>& gs) {
  double f = 0;
  for (const auto& g : gs) f += g.flops();
  return f;
}

inline void set_counters(benchmark::State& st, double flops, std::uint64_t allocs) {
  st.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["samples/s"] = benchmark::Counter(double(bench::batch), benchmark::Counter::kIsIterationInvariantRate);
  st.counters["allocs/iter"] = double(allocs) / double(st.iterations());
}

template <class Spec, class In>
using bound = typename Spec::template bind<float, 1, In>;

// Times only forward(), or only backward() after one forward().
template <class Spec, class In>
void layer_pass(benchmark::State& st, bool backward, double flops) {
  bench::set_blas_threads(int(st.range(0)));
  using L = bound<Spec, In>;
  auto layer = std::make_unique<L>();
  layer->for_each_param([](rhonet::parameter<float>& p) {
    p.value = bench::random_matrix(p.value.shape()[0], p.value.shape()[1], 3);
  });
  const std::size_t B = bench::batch;
  matrix<float> x = bench::random_matrix(B, In::size, 1);
  matrix<float> y = matrix<float>::from_shape({B, L::out_shape::size});
  matrix<float> dy = bench::random_matrix(B, L::out_shape::size, 2);
  matrix<float> dx = matrix<float>::from_shape({B, In::size});
  layer->resize(B);
  layer->forward(x, y, rhonet::mode::train);
  if (backward) layer->backward(x, y, dy, &dx);
  const auto a0 = bench::allocations();
  for (auto _ : st) {
    if (backward)
      layer->backward(x, y, dy, &dx);
    else
      layer->forward(x, y, rhonet::mode::train);
    benchmark::ClobberMemory();
  }
  set_counters(st, flops, bench::allocations() - a0);
}

inline void sgemm_pass(benchmark::State& st, const std::vector<gemm_shape>& gs) {
  bench::set_blas_threads(int(st.range(0)));
  std::vector<matrix<float>> a, b, c;
  for (const auto& g : gs) {
    a.push_back(bench::random_matrix(g.m, g.k, 1));
    b.push_back(bench::random_matrix(g.k, g.n, 2));
    c.push_back(matrix<float>::from_shape({g.m, g.n}));
  }
  const auto a0 = bench::allocations();
  for (auto _ : st) {
    for (std::size_t i = 0; i < gs.size(); ++i) {
      const auto& g = gs[i];
      rhonet::blas::gemm<float>(g.trans_a, g.trans_b, g.m, g.n, g.k, 1.f, a[i].data(),
                                g.trans_a ? g.m : g.k, b[i].data(), g.trans_b ? g.k : g.n, 0.f,
                                c[i].data(), g.n);
    }
    benchmark::ClobberMemory();
  }
  set_counters(st, total_flops(gs), bench::allocations() - a0);
}

// One SGD update (momentum 0.9, weight decay) of an rows x cols weight: memory-bound, so
// the counter is bytes moved (read w, grad, buffer; write w, buffer).
inline void sgd_update(benchmark::State& st, std::size_t rows, std::size_t cols) {
  rhonet::parameter<float> p("w", rhonet::param_role::weight, {rows, cols}, rows, cols);
  p.value = bench::random_matrix(rows, cols, 1);
  p.grad = bench::random_matrix(rows, cols, 2);
  rhonet::sgd<float> opt({&p}, {.lr = 1e-6, .momentum = 0.9, .weight_decay = 0.01});
  opt.step();
  const auto a0 = bench::allocations();
  for (auto _ : st) {
    opt.step();
    benchmark::ClobberMemory();
  }
  st.counters["GB/s"] = benchmark::Counter(5.0 * 4 * double(rows * cols) * 1e-9,
                                           benchmark::Counter::kIsIterationInvariantRate);
  st.counters["allocs/iter"] = double(bench::allocations() - a0) / double(st.iterations());
}

void add(const std::string& name, auto fn) {
  bench::with_stats(benchmark::RegisterBenchmark(name.c_str(), fn))
      ->ArgName("blas_threads")
      ->Arg(1)
      ->Arg(2)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
}

// A layer with GEMMs: its forward and backward, and the same GEMMs alone.
template <class Spec, class In>
void add_gemm_layer(const std::string& name, std::vector<gemm_shape> fwd, std::vector<gemm_shape> bwd) {
  const double ff = total_flops(fwd), fb = total_flops(bwd);
  add(name + "/forward", [ff](benchmark::State& st) { layer_pass<Spec, In>(st, false, ff); });
  add(name + "/backward", [fb](benchmark::State& st) { layer_pass<Spec, In>(st, true, fb); });
  add("sgemm/" + name + "/forward", [fwd](benchmark::State& st) { sgemm_pass(st, fwd); });
  add("sgemm/" + name + "/backward", [bwd](benchmark::State& st) { sgemm_pass(st, bwd); });
}

template <class Spec, class In>
void add_elementwise_layer(const std::string& name) {
  add(name + "/forward", [](benchmark::State& st) { layer_pass<Spec, In>(st, false, 0); });
  add(name + "/backward", [](benchmark::State& st) { layer_pass<Spec, In>(st, true, 0); });
}

template <std::size_t In, std::size_t W>
void add_dense() {
  constexpr std::size_t B = bench::batch;
  add_gemm_layer<rhonet::dense<W>, shape<In>>(
      "dense/in:" + std::to_string(In) + "/out:" + std::to_string(W),
      {{false, true, B, W, In}},                           // Y = X W^T
      {{true, false, W, In, B}, {false, false, B, In, W}});  // dW = dY^T X, dX = dY W
}

// conv2d<OutC, K, S, P> on a C x H x H image: the GEMMs conv2d makes, on columns of the B*P
// output pixels: Yc = W cols; dW = dYc cols^T; dcols = W^T dYc.
template <std::size_t C, std::size_t H, std::size_t OutC, std::size_t K, std::size_t S, std::size_t P>
void add_conv() {
  constexpr std::size_t B = bench::batch, OH = (H + 2 * P - K) / S + 1, pix = OH * OH, patch = C * K * K;
  add_gemm_layer<rhonet::conv2d<OutC, K, S, P>, shape<C, H, H>>(
      "conv2d/in:" + std::to_string(C) + "x" + std::to_string(H) + "x" + std::to_string(H) +
          "/out:" + std::to_string(OutC) + "/k:" + std::to_string(K) + "/s:" + std::to_string(S),
      {{false, false, OutC, B * pix, patch}},
      {{false, true, OutC, patch, B * pix}, {true, false, patch, B * pix, OutC}});
}

}  // namespace bench::layers
