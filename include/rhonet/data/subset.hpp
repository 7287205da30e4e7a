// Rows of a dataset: subset (the given rows, in the given order), head (the first n),
// shuffle (a seeded permutation, in place) and random_split (a seeded permutation cut in two,
// torch.utils.data.random_split with a generator seed). Every field (x, label, target,
// geometry, classes) follows the rows; the source names what was done. The permutations use
// the batcher's draws, so a seed gives the same rows on every platform.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <rhonet/core/random.hpp>
#include <rhonet/core/tensor.hpp>
#include <rhonet/data/dataset.hpp>

namespace rhonet {

namespace detail {

template <class T>
void check_consistent(const dataset<T>& d, const char* who) {
  if (d.x.shape()[0] != d.size() || d.target.shape()[0] != d.size())
    throw std::invalid_argument(std::string(who) + "(" + d.source + "): x has " + std::to_string(d.x.shape()[0]) +
                                " rows, target " + std::to_string(d.target.shape()[0]) + ", labels " +
                                std::to_string(d.size()));
}

template <class T>
dataset<T> take_rows(const dataset<T>& d, std::span<const std::size_t> rows, std::string source) {
  dataset<T> s;
  s.channels = d.channels;
  s.height = d.height;
  s.width = d.width;
  s.classes = d.classes;
  s.source = std::move(source);
  const std::size_t n = rows.size(), dim = d.features(), outs = d.outputs();
  s.x = matrix<T>::from_shape({n, dim});
  s.target = matrix<T>::from_shape({n, outs});
  s.label.resize(n);
  for (std::size_t r = 0; r < n; ++r) {
    const std::size_t i = rows[r];
    std::copy_n(d.x.data() + i * dim, dim, s.x.data() + r * dim);
    std::copy_n(d.target.data() + i * outs, outs, s.target.data() + r * outs);
    s.label[r] = d.label[i];
  }
  return s;
}

inline std::vector<std::size_t> permutation(std::size_t n, std::uint64_t seed) {
  std::vector<std::size_t> p(n);
  std::iota(p.begin(), p.end(), std::size_t{0});
  std::mt19937_64 g(seed);
  shuffle_in_place(p, g);
  return p;
}

}  // namespace detail

// The given rows of d, in that order (a row may repeat); each must be < d.size().
template <class T>
dataset<T> subset(const dataset<T>& d, std::span<const std::size_t> rows) {
  detail::check_consistent(d, "rhonet::subset");
  for (std::size_t r = 0; r < rows.size(); ++r)
    if (rows[r] >= d.size())
      throw std::invalid_argument("rhonet::subset(" + d.source + "): row " + std::to_string(rows[r]) +
                                  " (entry " + std::to_string(r) + ") is outside [0, " + std::to_string(d.size()) + ")");
  return detail::take_rows(d, rows, d.source + "[" + std::to_string(rows.size()) + " of " +
                                        std::to_string(d.size()) + " rows]");
}

// The first min(n, d.size()) rows.
template <class T>
dataset<T> head(const dataset<T>& d, std::size_t n) {
  detail::check_consistent(d, "rhonet::head");
  std::vector<std::size_t> rows(std::min(n, d.size()));
  std::iota(rows.begin(), rows.end(), std::size_t{0});
  return detail::take_rows(d, rows, d.source + "[first " + std::to_string(rows.size()) + "]");
}

// Permutes the rows of d in place, deterministically from the seed.
template <class T>
void shuffle(dataset<T>& d, std::uint64_t seed) {
  detail::check_consistent(d, "rhonet::shuffle");
  const std::vector<std::size_t> p = detail::permutation(d.size(), seed);
  d = detail::take_rows(d, p, d.source + "[shuffled, seed " + std::to_string(seed) + "]");
}

// A seeded permutation of the rows cut into its first `first_size` rows and the rest, e.g. a
// training and a validation set. first_size must be <= d.size().
template <class T>
std::pair<dataset<T>, dataset<T>> random_split(const dataset<T>& d, std::size_t first_size, std::uint64_t seed) {
  detail::check_consistent(d, "rhonet::random_split");
  if (first_size > d.size())
    throw std::invalid_argument("rhonet::random_split(" + d.source + "): first part of " + std::to_string(first_size) +
                                " rows, but the dataset has " + std::to_string(d.size()));
  const std::vector<std::size_t> p = detail::permutation(d.size(), seed);
  const std::span<const std::size_t> all(p);
  const std::string tag = "[split seed " + std::to_string(seed) + ", ";
  return {detail::take_rows(d, all.first(first_size), d.source + tag + "first " + std::to_string(first_size) + "]"),
          detail::take_rows(d, all.subspan(first_size),
                            d.source + tag + "last " + std::to_string(d.size() - first_size) + "]")};
}

}  // namespace rhonet
