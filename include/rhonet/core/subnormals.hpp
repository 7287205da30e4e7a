// Subnormal floating-point numbers (below 1.2e-38 in float, 2.2e-308 in double) take a
// microcode path on x86 CPUs that costs tens to hundreds of cycles per operation. A network
// that decays into that range (weight decay without batch norm drives rho towards 0: the
// paper's fc-wd setting from small inits) then trains 20x slower while its numbers no longer
// mean anything. Flushing them to zero keeps the speed; it changes results only where
// numbers are subnormal.
//
//   {
//     rhonet::subnormal_flush flush;   // this thread, and rhonet's pool for the work it starts
//     ...                              // subnormal results become 0, subnormal inputs read as 0
//   }                                  // the thread's previous mode is back
//
// The trainer holds one for its whole run (trainer_options::flush_subnormals, on by default).
// rhonet's own pool threads run each loop in the mode of the thread that started it.
// OpenBLAS's worker threads keep their own mode unless OpenBLAS was built with
// CONSISTENT_FPCSR=1 (Debian's is not): with more than one BLAS thread, parts of a GEMM may
// still see subnormals (docs/performance.md).
#pragma once

#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace rhonet {

namespace detail {
#if defined(__x86_64__) || defined(__i386__)
// MXCSR: flush-to-zero (bit 15) and denormals-are-zero (bit 6); bits 0-5 are sticky
// exception flags, not part of the mode.
inline constexpr std::uint32_t flush_bits = 0x8040u, fp_status_bits = 0x3fu;
inline std::uint32_t fp_mode() { return _mm_getcsr() & ~fp_status_bits; }
inline void set_fp_mode(std::uint32_t m) { _mm_setcsr((_mm_getcsr() & fp_status_bits) | m); }
#elif defined(__aarch64__)
// FPCR.FZ (bit 24) flushes both inputs and results in AArch64 state.
inline constexpr std::uint32_t flush_bits = 1u << 24;
inline std::uint32_t fp_mode() {
  std::uint64_t r;
  __asm__ volatile("mrs %0, fpcr" : "=r"(r));
  return std::uint32_t(r);
}
inline void set_fp_mode(std::uint32_t m) { __asm__ volatile("msr fpcr, %0" : : "r"(std::uint64_t(m))); }
#else
inline constexpr std::uint32_t flush_bits = 0;  // no control: subnormals stay
inline std::uint32_t fp_mode() { return 0; }
inline void set_fp_mode(std::uint32_t) {}
#endif
}  // namespace detail

// True if this CPU architecture lets rhonet flush subnormals (x86-64, AArch64).
inline constexpr bool can_flush_subnormals = detail::flush_bits != 0;

// True if the calling thread flushes subnormal numbers to zero.
inline bool flushing_subnormals() {
  return can_flush_subnormals && (detail::fp_mode() & detail::flush_bits) == detail::flush_bits;
}

// While alive, the calling thread flushes subnormals to zero (`on`) or keeps them (`on` =
// false, e.g. inside a caller's flushing scope); the destructor restores the thread's mode.
class subnormal_flush {
 public:
  explicit subnormal_flush(bool on = true) : saved_(detail::fp_mode()) {
    detail::set_fp_mode(on ? saved_ | detail::flush_bits : saved_ & ~detail::flush_bits);
  }
  ~subnormal_flush() { detail::set_fp_mode(saved_); }
  subnormal_flush(const subnormal_flush&) = delete;
  subnormal_flush& operator=(const subnormal_flush&) = delete;

 private:
  std::uint32_t saved_;
};

}  // namespace rhonet
