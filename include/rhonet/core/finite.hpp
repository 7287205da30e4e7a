// Finding NaN and Inf cheaply. The trainer checks every batch, loss, gradient and weight
// each step, so the test must cost a small fraction of a GEMM and allocate nothing: the
// exponent bits are tested with integer operations, which the compiler vectorises (a loop of
// std::isfinite with an early exit does not vectorise).
#pragma once

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

namespace rhonet {

namespace detail {
template <class T>
struct float_bits;
template <>
struct float_bits<float> {
  using type = std::uint32_t;
  static constexpr type exponent = 0x7f800000u;
};
template <>
struct float_bits<double> {
  using type = std::uint64_t;
  static constexpr type exponent = 0x7ff0000000000000ull;
};
}  // namespace detail

// True when all n values are finite.
template <class T>
bool all_finite(const T* p, std::size_t n) {
  using bits = detail::float_bits<T>;
  constexpr std::size_t block = 4096;  // stop early on a bad block, stay branch-free inside
  for (std::size_t start = 0; start < n; start += block) {
    const std::size_t end = n - start < block ? n : start + block;
    typename bits::type bad = 0;
    for (std::size_t k = start; k < end; ++k)
      bad |= (std::bit_cast<typename bits::type>(p[k]) & bits::exponent) == bits::exponent;
    if (bad) return false;
  }
  return true;
}

// Index of the first NaN or Inf among the n values, or n if all are finite.
template <class T>
std::size_t first_non_finite(const T* p, std::size_t n) {
  if (all_finite(p, n)) return n;
  for (std::size_t k = 0; k < n; ++k)
    if (!std::isfinite(p[k])) return k;
  return n;
}

// "nan", "inf" or "-inf", for messages.
template <class T>
std::string non_finite_name(T v) {
  if (std::isnan(v)) return "nan";
  return v > 0 ? "inf" : "-inf";
}

}  // namespace rhonet
