// Runtime dispatch of rhonet's memory-bound loops (ReLU, batch norm, the SGD update, conv2d's
// im2col and col2im) to AVX2. Linked with rhonet::rhonet alone, a program is compiled for the
// baseline x86-64 ISA (SSE2) so that it runs on any x86-64 CPU; these loops then move 16 bytes
// per instruction where the CPU could move 32. Each such loop is compiled twice, for the
// baseline and for AVX2, and the CPU picks one when the first loop runs.
//
// - Results. The AVX2 copy is compiled without FMA and the loops' summation order is written
//   out in the source (layers/batch_norm.hpp: lane_sum), so both copies give bit-identical
//   results; which one ran never shows in a number. A build with -march=native
//   (rhonet::optimize) contracts a * b + c into FMAs and can differ from the portable build
//   in the last bits: the determinism guarantee is per build and machine.
// - Builds for AVX2 or later (-march=native on such a CPU, -mavx2): no dispatch, each loop
//   is compiled once for the build's ISA and called directly (runtime_dispatch is false).
// - RHONET_ISA=baseline in the environment (read once, when the first loop runs) keeps the
//   baseline copy, e.g. to compare; set_kernel_isa() does the same from the program.
// - Not x86, or not g++/clang: no dispatch.
#pragma once

#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(__AVX2__)
#define RHONET_RUNTIME_DISPATCH 1
#else
#define RHONET_RUNTIME_DISPATCH 0
#endif

// Marks a loop body (a lambda given to detail::dispatch, and the helpers it calls) to be
// inlined into each copy, so that each is compiled for that copy's ISA.
#if defined(__GNUC__)
#define RHONET_KERNEL __attribute__((always_inline))
#else
#define RHONET_KERNEL
#endif

namespace rhonet {

// The instruction sets the dispatched loops are compiled for.
enum class isa { baseline, avx2 };

inline constexpr bool runtime_dispatch = RHONET_RUNTIME_DISPATCH;

inline const char* isa_name(isa i) { return i == isa::avx2 ? "avx2" : "baseline"; }

// Whether this CPU (and its OS, which must save the 256-bit registers) runs AVX2.
inline bool cpu_has_avx2() {
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");
#else
  return false;
#endif
}

namespace detail {

// The best ISA for this process: AVX2 when the CPU has it, unless RHONET_ISA says otherwise.
inline isa detect_kernel_isa() {
  const bool avx2 = cpu_has_avx2();
  const char* env = std::getenv("RHONET_ISA");
  if (!env || !*env) return avx2 ? isa::avx2 : isa::baseline;
  const std::string_view v(env);
  if (v == "baseline") return isa::baseline;
  if (v == "avx2") {
    if (!avx2)
      throw std::invalid_argument(
          "rhonet: the environment variable RHONET_ISA is \"avx2\", but this CPU does not run "
          "AVX2; expected RHONET_ISA=baseline or unset");
    return isa::avx2;
  }
  throw std::invalid_argument("rhonet: the environment variable RHONET_ISA is \"" + std::string(v) +
                              "\"; expected \"baseline\", \"avx2\" or unset");
}

// -1: not yet detected. One slot for the process (an inline function's static).
inline std::atomic<int>& kernel_isa_slot() {
  static std::atomic<int> slot{-1};
  return slot;
}

}  // namespace detail

// The copy of the dispatched loops this process runs: detected from the CPU (and
// RHONET_ISA) on the first call. Without runtime_dispatch it is only informative.
inline isa kernel_isa() {
  auto& slot = detail::kernel_isa_slot();
  int v = slot.load(std::memory_order_relaxed);
  if (v < 0) {
    v = int(detail::detect_kernel_isa());
    slot.store(v, std::memory_order_relaxed);
  }
  return isa(v);
}

// Runs the dispatched loops on the given copy from now on (e.g. isa::baseline, to compare
// the two on one machine). Like set_threads, set it before the work starts. Throws
// std::invalid_argument for AVX2 on a CPU without it.
inline void set_kernel_isa(isa i) {
  if (i == isa::avx2 && !cpu_has_avx2())
    throw std::invalid_argument("rhonet::set_kernel_isa: this CPU does not run AVX2; expected isa::baseline");
  detail::kernel_isa_slot().store(int(i), std::memory_order_relaxed);
}

namespace detail {

#if RHONET_RUNTIME_DISPATCH
#ifdef RHONET_COUNT_DISPATCH
// Tests only (defined before the first include): how often the AVX2 copy ran.
inline std::atomic<long> avx2_runs{0};
#endif

// The AVX2 copy: body's operator() is RHONET_KERNEL, so it is inlined and vectorised here
// with 256-bit registers. No "fma": contraction would change results (see the top).
template <class Body>
[[gnu::target("avx2"), gnu::noinline]] void run_avx2(Body& body) {
#ifdef RHONET_COUNT_DISPATCH
  avx2_runs.fetch_add(1, std::memory_order_relaxed);
#endif
  body();
}
#endif

// Runs body (a lambda marked RHONET_KERNEL holding the whole loop nest, not one iteration)
// on the copy kernel_isa() names.
template <class Body>
inline void dispatch(Body&& body) {
#if RHONET_RUNTIME_DISPATCH
  if (kernel_isa() == isa::avx2) {
    run_avx2(body);
    return;
  }
#endif
  body();
}

}  // namespace detail
}  // namespace rhonet
