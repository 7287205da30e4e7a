// Two-class tasks cut from a multi-class dataset: the setting of the paper's experiments
// (one output trained on y = +-1, or two outputs with one-hot targets).
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <rhonet/core/tensor.hpp>
#include <rhonet/data/dataset.hpp>

namespace rhonet {

// Keeps the samples of classes a and b, in their original order, then the first `limit` of
// them (deterministic, no sampling). Targets: one output -> a = +1, b = -1; two outputs ->
// a = [1, 0], b = [0, 1]. `label` keeps the original class ids. Throws std::invalid_argument
// for bad arguments and when a class has no samples (before or after the limit).
template <class T>
dataset<T> make_binary_task(const dataset<T>& full, int class_a, int class_b,
                            std::size_t outputs = 1,
                            std::optional<std::size_t> limit = std::nullopt) {
  const std::string what = "rhonet::make_binary_task(" + full.source + ", " +
                           std::to_string(class_a) + ", " + std::to_string(class_b) + "): ";
  for (int c : {class_a, class_b})
    if (c < 0 || static_cast<std::size_t>(c) >= full.classes)
      throw std::invalid_argument(what + "class id " + std::to_string(c) + " is outside [0, " +
                                  std::to_string(full.classes) + ")");
  if (class_a == class_b) throw std::invalid_argument(what + "the two classes must differ");
  if (outputs != 1 && outputs != 2)
    throw std::invalid_argument(what + "outputs must be 1 (+-1 target) or 2 (one-hot), got " +
                                std::to_string(outputs));
  if (full.x.shape()[0] != full.size())
    throw std::invalid_argument(what + "x has " + std::to_string(full.x.shape()[0]) +
                                " rows but there are " + std::to_string(full.size()) + " labels");
  if (limit && *limit == 0) throw std::invalid_argument(what + "limit must be positive");

  std::vector<std::size_t> keep;
  std::size_t count_a = 0, count_b = 0;
  for (std::size_t i = 0; i < full.size(); ++i) {
    const int l = full.label[i];
    if (l == class_a) ++count_a;
    if (l == class_b) ++count_b;
    if (l == class_a || l == class_b) keep.push_back(i);
  }
  for (auto [c, n] : {std::pair{class_a, count_a}, std::pair{class_b, count_b}})
    if (n == 0)
      throw std::invalid_argument(what + "class " + std::to_string(c) + " has no samples");
  if (limit && keep.size() > *limit) {
    keep.resize(*limit);
    for (int c : {class_a, class_b})
      if (std::none_of(keep.begin(), keep.end(), [&](std::size_t i) { return full.label[i] == c; }))
        throw std::invalid_argument(what + "class " + std::to_string(c) +
                                    " has no samples among the first " + std::to_string(*limit) +
                                    " kept; raise the limit");
  }

  dataset<T> d;
  d.channels = full.channels;
  d.height = full.height;
  d.width = full.width;
  d.classes = full.classes;
  d.source = full.source + "[" + std::to_string(class_a) + " vs " + std::to_string(class_b) + "]";
  const std::size_t n = keep.size(), dim = full.features();
  d.x = matrix<T>::from_shape({n, dim});
  d.target = matrix<T>::from_shape({n, outputs});
  d.label.resize(n);
  for (std::size_t r = 0; r < n; ++r) {
    const std::size_t i = keep[r];
    std::copy_n(full.x.data() + i * dim, dim, d.x.data() + r * dim);
    const bool is_a = full.label[i] == class_a;
    d.label[r] = full.label[i];
    if (outputs == 1) {
      d.target(r, 0) = is_a ? T(1) : T(-1);
    } else {
      d.target(r, 0) = is_a ? T(1) : T(0);
      d.target(r, 1) = is_a ? T(0) : T(1);
    }
  }
  return d;
}

}  // namespace rhonet
