// Shared by the benchmark translation units: the epoch data (two Fashion-MNIST classes, or
// synthetic data of the same shape), BLAS thread control, the allocation counter and the
// statistics every benchmark reports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <benchmark/benchmark.h>

#include <rhonet/core/tensor.hpp>
#include <rhonet/core/threads.hpp>
#include <rhonet/data/dataset.hpp>

namespace bench {

// Heap allocations (operator new calls) since program start; counted in main.cpp.
std::uint64_t allocations();

// The comparison data: 12,000 training samples of Fashion-MNIST classes 2 (+1) and 4 (-1),
// preprocessed as the paper program does (per-channel standardisation, unit norm; the flat
// set has the constant bias component appended). Synthetic Gaussian data of the same shape
// when the data set is not installed; data_source() says which.
const rhonet::dataset<float>& flat_data();   // 12000 x 785
const rhonet::dataset<float>& image_data();  // 12000 x 784 (1 x 28 x 28)
const std::string& data_source();

// A row-major matrix of the given shape with N(0, 1) entries.
rhonet::matrix<float> random_matrix(std::size_t rows, std::size_t cols, std::uint64_t seed);

// Sets the thread count for one benchmark (rhonet::set_threads: OpenBLAS's and rhonet's).
inline void set_blas_threads(int t) { rhonet::set_threads(t); }

// Median, min and max over repetitions (Google Benchmark computes mean, median, stddev, cv).
inline benchmark::internal::Benchmark* with_stats(benchmark::internal::Benchmark* b) {
  return b
      ->ComputeStatistics("min",
                          [](const std::vector<double>& v) {
                            double m = v.empty() ? 0 : v[0];
                            for (double x : v) m = x < m ? x : m;
                            return m;
                          })
      ->ComputeStatistics("max", [](const std::vector<double>& v) {
        double m = v.empty() ? 0 : v[0];
        for (double x : v) m = x > m ? x : m;
        return m;
      });
}

inline constexpr std::size_t batch = 128;  // the paper's batch size

}  // namespace bench
