// parallel_for: rhonet's own loops (the SGD update, batch norm, ReLU, conv2d's im2col and
// col2im) on the threads of rhonet::threads(), the same count as the GEMMs. One persistent
// pool for the process; the calling thread works too.
//
// - Results do not depend on the thread count: a loop is cut into contiguous parts along a
//   dimension whose entries are computed independently (parameter entries, BN channels,
//   samples), and no sum is ever split across parts.
// - The GEMMs too: core/blas.hpp cuts each large one into a block per thread on this pool,
//   with OpenBLAS on one thread. The workers sleep on a futex between loops, and the calling
//   thread takes every part no worker has started, so a worker that cannot get a core costs
//   nothing (a version in which the caller waited for its workers made 2-thread steps up to
//   4x slower next to OpenBLAS's own spinning threads; docs/performance.md).
// - In the caller's floating-point mode: each worker takes the MXCSR mode (flushing
//   subnormals or not, rounding) of the thread that started the loop (core/subnormals.hpp),
//   so a loop's numbers do not depend on which thread ran a part.
// - One caller at a time: a second thread calling parallel_for while the pool is busy (two
//   runs trained side by side in one process) runs its loop alone instead of waiting, and so
//   does a part that calls parallel_for (or a large GEMM, core/blas.hpp) itself.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include <rhonet/core/subnormals.hpp>
#include <rhonet/core/threads.hpp>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define RHONET_SPIN_PAUSE() _mm_pause()
#else
#define RHONET_SPIN_PAUSE() ((void)0)
#endif

namespace rhonet::detail {

// A job's parts, called by reference: std::function would allocate for the loops' captures,
// and a training step must not allocate (test_alloc).
struct part_job {
  const void* body;
  void (*call)(const void*, std::size_t);
  void operator()(std::size_t i) const { call(body, i); }
};

class thread_pool {
 public:
  static thread_pool& instance() {
    static thread_pool pool;
    return pool;
  }

  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  ~thread_pool() {
    stop_.store(true, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);  // wakes every worker to see stop_
    generation_.notify_all();
    for (auto& t : workers_) t.join();
  }

  // Runs part(i) for every i in [0, parts) once, on the calling thread and on whichever
  // workers are awake to claim parts, and returns when all are done. The caller never waits
  // for a worker that has not started: it takes the unclaimed parts itself, so a worker that
  // cannot get a core (another process, or a BLAS that threads on its own) costs nothing.
  // False (nothing run) when another thread is using the pool.
  bool try_run(std::size_t parts, const part_job& part) {
    if (in_part) return false;  // a part that starts a loop of its own runs it alone
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    while (workers_.size() + 1 < parts) workers_.emplace_back([this, g = generation_.load()] { work(g); });
    const std::uint32_t gen = generation_.load(std::memory_order_relaxed) + 1;
    job_ = &part;
    mode_.store(fp_mode(), std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    // Claims are (generation << 32 | next part): a worker still holding an older job's
    // generation can never claim a part of this one.
    claims_.store(std::uint64_t(gen) << 32, std::memory_order_relaxed);
    parts_.store(parts, std::memory_order_relaxed);
    generation_.store(gen, std::memory_order_release);
    generation_.notify_all();
    run_parts(gen, parts);
    // A worker's part may take milliseconds (a GEMM block): after a short spin, yield, so that
    // on an oversubscribed machine (MPI ranks, other processes) the worker gets the core.
    for (unsigned spin = 0; done_.load(std::memory_order_acquire) != parts; ++spin)
      if (spin < 1024)
        RHONET_SPIN_PAUSE();
      else
        std::this_thread::yield();
    return true;
  }

 private:
  thread_pool() = default;

  // Claims and runs parts of job `gen` until none are left.
  void run_parts(std::uint32_t gen, std::size_t parts) {
    std::uint64_t c = claims_.load(std::memory_order_acquire);
    for (;;) {
      if (c >> 32 != gen || (c & 0xffffffffu) >= parts) return;
      if (!claims_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
      in_part = true;
      (*job_)(static_cast<std::size_t>(c & 0xffffffffu));
      in_part = false;
      done_.fetch_add(1, std::memory_order_release);
      c = claims_.load(std::memory_order_acquire);
    }
  }

  void work(std::uint32_t seen) {
    for (;;) {
      std::uint32_t now = generation_.load(std::memory_order_acquire);
      while (now == seen) {
        generation_.wait(seen, std::memory_order_acquire);
        now = generation_.load(std::memory_order_acquire);
      }
      seen = now;
      if (stop_.load(std::memory_order_relaxed)) return;
      // Read after the generation: at worst a newer job's mode, and then no part of `now` is
      // left to claim (the claims carry the generation), so no part runs in a wrong mode.
      if (const std::uint32_t m = mode_.load(std::memory_order_relaxed); m != fp_mode()) set_fp_mode(m);
      run_parts(now, parts_.load(std::memory_order_relaxed));
    }
  }

  static inline thread_local bool in_part = false;
  std::mutex busy_;
  std::vector<std::thread> workers_;
  const part_job* job_ = nullptr;
  std::atomic<std::uint64_t> claims_{0};
  std::atomic<std::size_t> parts_{0}, done_{0};
  std::atomic<std::uint32_t> generation_{0}, mode_{0};
  std::atomic<bool> stop_{false};
};

// The smallest part worth a thread, in entries of a memory-bound loop (64 KB of floats):
// about 10 us of work against a few microseconds to hand a part over.
inline constexpr std::size_t parallel_grain = std::size_t(1) << 14;

// Calls f(part, begin, end) on contiguous parts of [0, n) that together cover it, part =
// 0, 1, ... below rhonet::threads(), none smaller than `grain` entries (small loops run on the
// calling thread alone: waking a thread costs microseconds). The part index lets a loop use
// scratch space of its own per part.
template <class F>
void parallel_parts(std::size_t n, std::size_t grain, F&& f) {
  const std::size_t by_size = grain ? n / grain : n;
  const std::size_t parts = std::min<std::size_t>(static_cast<std::size_t>(threads()), std::max<std::size_t>(by_size, 1));
  if (parts <= 1) {
    f(std::size_t(0), std::size_t(0), n);
    return;
  }
  const auto body = [&](std::size_t i) { f(i, n * i / parts, n * (i + 1) / parts); };
  const part_job job{&body, [](const void* b, std::size_t i) { (*static_cast<decltype(&body)>(b))(i); }};
  if (!thread_pool::instance().try_run(parts, job)) f(std::size_t(0), std::size_t(0), n);
}

// The same without the part index: f(begin, end).
template <class F>
void parallel_for(std::size_t n, std::size_t grain, F&& f) {
  parallel_parts(n, grain, [&](std::size_t, std::size_t begin, std::size_t end) { f(begin, end); });
}

}  // namespace rhonet::detail
