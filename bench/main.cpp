// rhonet_bench's main: counts heap allocations, prepares the comparison data once, and records
// the BLAS build in the report's context.
#include <atomic>
#include <cstdlib>
#include <exception>
#include <new>
#include <random>

#include "common.hpp"

#include <rhonet/core/dispatch.hpp>
#include <rhonet/core/ensure_blas_kernels.hpp>
#include <rhonet/data/binary_task.hpp>
#include <rhonet/data/preprocess.hpp>

namespace {
std::atomic<std::uint64_t> g_allocations{0};
}

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, std::align_val_t a) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  const std::size_t al = static_cast<std::size_t>(a);
  if (void* p = std::aligned_alloc(al, (n + al - 1) / al * al)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) { return operator new(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace bench {

std::uint64_t allocations() { return g_allocations.load(std::memory_order_relaxed); }

rhonet::matrix<float> random_matrix(std::size_t rows, std::size_t cols, std::uint64_t seed) {
  auto m = rhonet::matrix<float>::from_shape({rows, cols});
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> n(0.f, 1.f);
  for (auto& v : m) v = n(rng);
  return m;
}

namespace {
struct comparison_data {
  rhonet::dataset<float> image, flat;
  std::string source;
};

comparison_data make_data() {
  using namespace rhonet;
  comparison_data d;
  dataset<float> train, test;
  try {
    train = make_binary_task(load_fashion_mnist<float>(split::train), 2, 4, 1);
    test = make_binary_task(load_fashion_mnist<float>(split::test), 2, 4, 1);
    d.source = "fashion-mnist (classes 2 vs 4)";
  } catch (const std::exception&) {
    // Same shapes as the real task; the timings do not depend on the values.
    train.x = random_matrix(12000, 784, 1);
    train.target = matrix<float>::from_shape({12000, 1});
    train.label.assign(12000, 0);
    for (std::size_t i = 0; i < 12000; ++i) {
      train.label[i] = i % 2 ? 2 : 4;
      train.target(i, 0) = i % 2 ? 1.f : -1.f;
    }
    train.channels = 1, train.height = train.width = 28, train.classes = 10;
    test = train;
    d.source = "synthetic (Fashion-MNIST not installed)";
  }
  standardise_per_channel(train, test);
  scale_to_unit_norm(train);
  d.image = train;
  d.flat = train;
  append_bias(d.flat);
  return d;
}

const comparison_data& data() {
  static const comparison_data d = make_data();
  return d;
}
}  // namespace

const rhonet::dataset<float>& flat_data() { return data().flat; }
const rhonet::dataset<float>& image_data() { return data().image; }
const std::string& data_source() { return data().source; }

}  // namespace bench

int main(int argc, char** argv) {
  rhonet::ensure_blas_kernels(argc, argv);  // before Initialize, which edits argv
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // The kernel set every number of this run comes from.
  const rhonet::blas_kernels blas = rhonet::blas_kernels_status();
  benchmark::AddCustomContext("openblas_config", blas.config.empty() ? "not OpenBLAS" : blas.config);
  benchmark::AddCustomContext("openblas_corename", blas.running.empty() ? "n/a" : blas.running);
  benchmark::AddCustomContext("openblas_best_coretype", blas.best.empty() ? "n/a" : blas.best);
  benchmark::AddCustomContext("openblas_below_best", blas.below_best ? "yes" : "no");
  benchmark::AddCustomContext("openblas_threads_max", std::to_string(rhonet::threads()));
  if (const char* c = std::getenv("OPENBLAS_CORETYPE")) benchmark::AddCustomContext("OPENBLAS_CORETYPE", c);
  benchmark::AddCustomContext("data", bench::data_source());
  // Which copy of rhonet's dispatched loops ran (core/dispatch.hpp): "avx2" or "baseline" in
  // a portable build, "build" when the build targets AVX2 itself (-march=native).
  benchmark::AddCustomContext("rhonet_kernels",
                              rhonet::runtime_dispatch ? rhonet::isa_name(rhonet::kernel_isa()) : "build");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
