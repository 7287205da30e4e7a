// The number of threads rhonet computes on: one process-wide setting for the GEMMs and for
// the library's own parallel loops (both read threads()). It is a property of the process,
// not of a network: two networks trained side by side share the cores anyway.
//
// rhonet runs the threads itself: it cuts each large GEMM into one block per thread
// (core/blas.hpp), and OpenBLAS runs on one thread from rhonet's first matrix product on, also
// for other code of the process that calls it. Set the count before the work starts, not
// while another thread is inside a matrix product (OpenBLAS does not support resizing its pool
// during a call).
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

inline int default_threads() {
  if (const int t = openblas::num_threads(); t > 0) return t;
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

// Before rhonet's first matrix product: the thread count becomes rhonet's (OpenBLAS's count
// at load time, unless set_threads came first) and OpenBLAS goes down to one thread.
inline void take_over_blas_threads() {
  static const bool done = [] {
    int unset = 0;
    thread_setting.compare_exchange_strong(unset, default_threads(), std::memory_order_relaxed);
    openblas::set_num_threads(1);
    return true;
  }();
  (void)done;
}
}  // namespace detail

// Uses n threads (n >= 1) from now on.
inline void set_threads(int n) {
  if (n < 1)
    throw std::invalid_argument("rhonet::set_threads: expected a thread count >= 1, got " +
                                std::to_string(n));
  detail::thread_setting.store(n, std::memory_order_relaxed);
  detail::take_over_blas_threads();
}

// The thread count in effect: the last set_threads() value; before any, OpenBLAS's own
// (OPENBLAS_NUM_THREADS or OMP_NUM_THREADS at load time, else the number of cores), or the
// number of cores with another BLAS.
inline int threads() {
  if (const int t = detail::thread_setting.load(std::memory_order_relaxed); t > 0) return t;
  return detail::default_threads();
}

}  // namespace rhonet
