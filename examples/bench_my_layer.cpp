// Benchmarks of your own shapes with rhonet/bench.hpp (docs/performance.md, "Benchmarking
// your own layers"): each layer's forward and backward, and a whole network's training step
// and prediction, each next to a row of the same GEMMs alone, so that GFLOP/s reads against
// the GEMM limit of the same shapes on this machine.
//   bench_my_layer [--benchmark_filter=REGEX] [--benchmark_repetitions=N] ...
// Built when Google Benchmark is found (Debian: libbenchmark-dev).
#include <rhonet/bench.hpp>
#include <rhonet/nn.hpp>

using namespace rhonet;

// The network to measure: here train_multiclass's conv net on 28 x 28 images.
using my_net = network<input<1, 28, 28>,
                       conv2d<16, 3, 1, 1>, batch_norm<>, relu, max_pool2d<2>,
                       conv2d<32, 3, 1, 1>, batch_norm<>, relu, max_pool2d<2>,
                       flatten, dense<64>, batch_norm<>, relu, dense<10, bias::on>>;

int main(int argc, char** argv) {
  // One layer: its spec as written in network<...>, and the shape of its input.
  bench::add_layer<dense<512>, shape<785>>("dense/785x512");
  bench::add_layer<conv2d<32, 3, 1, 1>, shape<16, 14, 14>>("conv2d/16x14x14/32/k3");
  bench::add_layer<batch_norm<>, shape<32, 14, 14>>("batch_norm/32x14x14");  // no GEMM: no baseline row
  // A whole network, at batch 64, with 1 and 2 BLAS threads.
  bench::add_network<my_net>("my_net", 64, {1, 2});
  return bench::main(argc, argv);
}
