// Seeded random draws that are the same on every platform: std::mt19937_64 is fully
// specified, but std::uniform_int_distribution and std::shuffle differ between standard
// libraries, so the draws built on it are written here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <utility>
#include <vector>

namespace rhonet::detail {

// Uniform in [0, n) by rejection (n > 0).
inline std::uint64_t uniform_below(std::mt19937_64& g, std::uint64_t n) {
  constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  const std::uint64_t rem = (max % n + 1) % n;  // 2^64 mod n
  std::uint64_t r = g();
  if (rem != 0)
    while (r > max - rem) r = g();  // reject the incomplete top block
  return r % n;
}

// Fisher-Yates from the back, the batcher's order.
template <class V>
void shuffle_in_place(std::vector<V>& v, std::mt19937_64& g) {
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[uniform_below(g, i)]);
}

}  // namespace rhonet::detail
