// One-hot targets from class labels: row n is e_{labels[n]} over `classes` columns, the
// target layout of the multi-class losses (torch.nn.functional.one_hot, as floats).
#pragma once

#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>

#include <rhonet/core/tensor.hpp>
#include <rhonet/data/dataset.hpp>

namespace rhonet {

// Writes into `out`, resizing only if its shape differs; labels must lie in [0, classes).
template <class T>
void one_hot(std::span<const int> labels, std::size_t classes, matrix<T>& out) {
  if (classes == 0) throw std::invalid_argument("rhonet::one_hot: classes must be positive");
  for (std::size_t n = 0; n < labels.size(); ++n)
    if (labels[n] < 0 || static_cast<std::size_t>(labels[n]) >= classes)
      throw std::invalid_argument("rhonet::one_hot: label " + std::to_string(labels[n]) + " of row " +
                                  std::to_string(n) + " is outside [0, " + std::to_string(classes) + ")");
  if (out.shape()[0] != labels.size() || out.shape()[1] != classes) out.resize({labels.size(), classes});
  out.fill(T(0));
  for (std::size_t n = 0; n < labels.size(); ++n) out(n, static_cast<std::size_t>(labels[n])) = T(1);
}

//   matrix<float> t = one_hot<float>(labels, 10);
template <class T>
matrix<T> one_hot(std::span<const int> labels, std::size_t classes) {
  matrix<T> out = matrix<T>::from_shape({labels.size(), classes});
  one_hot(labels, classes, out);
  return out;
}

// Sets d.target to the one-hot code of d.label over d.classes (e.g. after a binary task's
// +-1 targets, to train the same samples with one output per class).
template <class T>
void set_one_hot_targets(dataset<T>& d) {
  one_hot(std::span<const int>(d.label), d.classes, d.target);
}

}  // namespace rhonet
