// Dense layers at the paper's widths, the weight-normalised dense layer, and the SGD update
// (layer_bench.hpp).
#include "layer_bench.hpp"

#include <rhonet/layers/weight_norm.hpp>

namespace {

using namespace bench::layers;

const bool registered = [] {
  add_dense<785, 256>();
  add_dense<256, 256>();
  add_dense<785, 512>();
  add_dense<512, 512>();
  add_dense<785, 1024>();
  add_dense<1024, 1024>();
  constexpr std::size_t B = bench::batch;
  add_gemm_layer<rhonet::weight_norm<rhonet::dense<512>>, shape<512>>(
      "weight_norm_dense/in:512/out:512", {{false, true, B, 512, 512}},
      {{true, false, 512, 512, B}, {false, false, B, 512, 512}});
  for (std::size_t w : {256, 512, 1024})
    bench::with_stats(benchmark::RegisterBenchmark(("sgd_step/" + std::to_string(w) + "x" + std::to_string(w)).c_str(),
                                                   [w](benchmark::State& st) { sgd_update(st, w, w); }))
        ->UseRealTime()->Unit(benchmark::kMicrosecond);
  return true;
}();

}  // namespace
