// The number of threads rhonet computes on: one process-wide setting for OpenBLAS's GEMMs
// and for the library's own parallel loops (those read threads()). It is a property of the
// process, not of a network: OpenBLAS has a single thread pool, and two networks trained side
// by side share the cores anyway. Set it before the work starts, not while another thread
// is inside a matrix product (OpenBLAS does not support resizing its pool during a call).
#pragma once

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>

#include <rhonet/core/openblas_runtime.hpp>

namespace rhonet {

namespace detail {
inline std::atomic<int> thread_setting{0};  // 0: never set, follow OpenBLAS's own count
}

// Uses n threads (n >= 1) from now on. OpenBLAS caps n at its build's MAX_THREADS;
// threads() then reports the capped value.
inline void set_threads(int n) {
  if (n < 1)
    throw std::invalid_argument("rhonet::set_threads: expected a thread count >= 1, got " +
                                std::to_string(n));
  int effective = n;
  if (openblas::set_num_threads(n)) effective = std::max(1, openblas::num_threads());
  detail::thread_setting.store(effective, std::memory_order_relaxed);
}

// The thread count in effect: the last set_threads() value; before any, OpenBLAS's own
// (OPENBLAS_NUM_THREADS or OMP_NUM_THREADS at load time, else the number of cores), or the
// number of cores with another BLAS.
inline int threads() {
  if (const int t = detail::thread_setting.load(std::memory_order_relaxed); t > 0) return t;
  if (const int t = openblas::num_threads(); t > 0) return t;
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

}  // namespace rhonet
