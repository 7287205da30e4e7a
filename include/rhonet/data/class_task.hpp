// Tasks of C >= 2 chosen classes cut from a multi-class dataset, with one-hot targets over the
// chosen classes in the order given (output c is classes[c]): e.g. all ten classes of
// Fashion-MNIST, or three of them. make_binary_task (binary_task.hpp) is the two-class case with
// +-1 targets.
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <rhonet/core/tensor.hpp>
#include <rhonet/data/dataset.hpp>

namespace rhonet {

// Keeps the samples whose class is in `classes`, in their original order, then the first
// `limit` of them (deterministic, no sampling). Row n's target is e_c over classes.size()
// columns where classes[c] is its class; `label` keeps the original class ids. Throws
// std::invalid_argument for fewer than two classes, repeated or unknown ids, a zero limit, and
// a class with no samples (before or after the limit).
template <class T>
dataset<T> make_class_task(const dataset<T>& full, std::span<const int> classes,
                           std::optional<std::size_t> limit = std::nullopt) {
  std::string ids;
  for (int c : classes) ids += (ids.empty() ? "" : ", ") + std::to_string(c);
  const std::string what = "rhonet::make_class_task(" + full.source + ", {" + ids + "}): ";
  if (classes.size() < 2) throw std::invalid_argument(what + "expected at least two classes");
  std::vector<int> output_of(full.classes, -1);  // class id -> output, -1: not chosen
  for (std::size_t c = 0; c < classes.size(); ++c) {
    const int id = classes[c];
    if (id < 0 || static_cast<std::size_t>(id) >= full.classes)
      throw std::invalid_argument(what + "class id " + std::to_string(id) + " is outside [0, " +
                                  std::to_string(full.classes) + ")");
    if (output_of[std::size_t(id)] >= 0)
      throw std::invalid_argument(what + "class " + std::to_string(id) + " is given twice");
    output_of[std::size_t(id)] = int(c);
  }
  if (full.x.shape()[0] != full.size())
    throw std::invalid_argument(what + "x has " + std::to_string(full.x.shape()[0]) + " rows but there are " +
                                std::to_string(full.size()) + " labels");
  if (limit && *limit == 0) throw std::invalid_argument(what + "limit must be positive");

  std::vector<std::size_t> keep;
  for (std::size_t i = 0; i < full.size(); ++i) {
    const int l = full.label[i];
    if (l >= 0 && std::size_t(l) < full.classes && output_of[std::size_t(l)] >= 0) keep.push_back(i);
  }
  const bool limited = limit && keep.size() > *limit;
  if (limited) keep.resize(*limit);
  std::vector<std::size_t> count(classes.size(), 0);
  for (std::size_t i : keep) ++count[std::size_t(output_of[std::size_t(full.label[i])])];
  for (std::size_t c = 0; c < classes.size(); ++c)
    if (count[c] == 0)
      throw std::invalid_argument(what + "class " + std::to_string(classes[c]) + " has no samples" +
                                  (limited ? " among the first " + std::to_string(*limit) + " kept; raise the limit"
                                           : std::string()));

  dataset<T> d;
  d.channels = full.channels;
  d.height = full.height;
  d.width = full.width;
  d.classes = full.classes;
  std::string shown;
  for (int c : classes) {  // appended piece by piece: g++ 12 warns falsely on "," + to_string
    if (!shown.empty()) shown += ',';
    shown += std::to_string(c);
  }
  d.source = full.source + "[" + shown + "]";
  const std::size_t n = keep.size(), dim = full.features(), C = classes.size();
  d.x = matrix<T>::from_shape({n, dim});
  d.target = matrix<T>::from_shape({n, C});
  d.target.fill(T(0));
  d.label.resize(n);
  for (std::size_t r = 0; r < n; ++r) {
    const std::size_t i = keep[r];
    std::copy_n(full.x.data() + i * dim, dim, d.x.data() + r * dim);
    d.label[r] = full.label[i];
    d.target(r, std::size_t(output_of[std::size_t(full.label[i])])) = T(1);
  }
  return d;
}

}  // namespace rhonet
