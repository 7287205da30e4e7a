// Classification metrics on a network output `out` (N x C, one row per sample).
//   C = 1 : the sign is the prediction, targets are +-1 (the paper's binary setting);
//   C >= 2: the predicted class is the argmax of the row (ties go to the lowest index).
// Functions taking `labels` (class ids in [0, C), e.g. dataset::label) need C >= 2; the
// ones taking a target matrix accept both conventions. Results that are written into a
// caller's object reuse its storage when the size already fits.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <rhonet/core/tensor.hpp>

namespace rhonet {

namespace detail {

template <class T>
void check_metric_shapes(const char* who, const matrix<T>& out, const matrix<T>& target) {
  if (out.shape()[0] != target.shape()[0] || out.shape()[1] != target.shape()[1])
    throw std::invalid_argument(std::string(who) + ": out shape " + shape_string(out) +
                                " != target shape " + shape_string(target));
  if (out.shape()[0] == 0 || out.shape()[1] == 0)
    throw std::invalid_argument(std::string(who) + ": empty output, out shape " +
                                shape_string(out) + ", target shape " + shape_string(target));
}

// Labels against an output of C >= 2 columns: one label per row, each in [0, C).
template <class T>
void check_labels(const char* who, const matrix<T>& out, std::span<const int> labels) {
  const std::size_t N = out.shape()[0], C = out.shape()[1];
  if (C < 2)
    throw std::invalid_argument(std::string(who) + ": class labels need an output of >= 2 columns "
                                "(one per class), out shape " + shape_string(out) +
                                "; for one output with +-1 targets use classification_error(out, target)");
  if (labels.size() != N)
    throw std::invalid_argument(std::string(who) + ": " + std::to_string(labels.size()) +
                                " labels for an output of " + std::to_string(N) + " rows");
  for (std::size_t n = 0; n < N; ++n)
    if (labels[n] < 0 || static_cast<std::size_t>(labels[n]) >= C)
      throw std::invalid_argument(std::string(who) + ": label " + std::to_string(labels[n]) +
                                  " of row " + std::to_string(n) + " is outside [0, " +
                                  std::to_string(C) + ")");
}

template <class T>
std::size_t argmax_row(const T* row, std::size_t C) {
  return static_cast<std::size_t>(std::max_element(row, row + C) - row);
}

}  // namespace detail

// Number of misclassified samples.
//   C = 1 : sign(out_n) != y_n; out_n = 0 has no sign and counts as an error.
//   C >= 2: argmax_c out_nc != argmax_c target_nc (ties go to the lowest index).
// Counting (rather than a fraction) lets callers sum over batches exactly.
template <class T>
std::size_t misclassified(const matrix<T>& out, const matrix<T>& target) {
  detail::check_metric_shapes("rhonet::misclassified", out, target);
  const std::size_t N = out.shape()[0], C = out.shape()[1];
  const T* o = out.data();
  const T* t = target.data();
  std::size_t wrong = 0;
  if (C == 1) {
    for (std::size_t n = 0; n < N; ++n) {
      const bool ok = (o[n] > T(0) && t[n] > T(0)) || (o[n] < T(0) && t[n] < T(0));
      wrong += ok ? 0 : 1;
    }
  } else {
    for (std::size_t n = 0; n < N; ++n)
      wrong += detail::argmax_row(o + n * C, C) == detail::argmax_row(t + n * C, C) ? 0 : 1;
  }
  return wrong;
}

// Fraction of misclassified samples, in [0, 1].
template <class T>
double classification_error(const matrix<T>& out, const matrix<T>& target) {
  const std::size_t wrong = misclassified(out, target);
  return double(wrong) / double(out.shape()[0]);
}

// Fraction of correctly classified samples: 1 - classification_error(out, target).
template <class T>
double accuracy(const matrix<T>& out, const matrix<T>& target) {
  return 1.0 - classification_error(out, target);
}

// The binary score whose sign is the prediction (the paper's g; f = g / rho):
//   C = 1: out_n0;   C = 2: out_n0 - out_n1 (the group's two-output convention).
// Writes into f, resizing only if its length differs from N.
template <class T>
void binary_score(const matrix<T>& out, vector<T>& f) {
  const std::size_t N = out.shape()[0], C = out.shape()[1];
  if (C != 1 && C != 2)
    throw std::invalid_argument("rhonet::binary_score: needs 1 or 2 outputs, out shape " +
                                detail::shape_string(out));
  if (f.size() != N) f.resize({N});
  const T* o = out.data();
  T* d = f.data();
  if (C == 1)
    for (std::size_t n = 0; n < N; ++n) d[n] = o[n];
  else
    for (std::size_t n = 0; n < N; ++n) d[n] = o[2 * n] - o[2 * n + 1];
}

template <class T>
vector<T> binary_score(const matrix<T>& out) {
  vector<T> f = vector<T>::from_shape({out.shape()[0]});
  binary_score(out, f);
  return f;
}

// Row-wise softmax, p_nc = exp(out_nc - m_n) / sum_c exp(out_nc - m_n) with m_n the row's
// maximum (torch.softmax(out, dim=1)): finite for any finite output. `probs` may be `out`.
// A single column gives 1 everywhere (for one logistic output the probability of class +1
// is sigmoid(out)).
template <class T>
void softmax(const matrix<T>& out, matrix<T>& probs) {
  const std::size_t N = out.shape()[0], C = out.shape()[1];
  if (probs.shape()[0] != N || probs.shape()[1] != C) probs.resize({N, C});
  using A = std::common_type_t<T, double>;
  for (std::size_t n = 0; n < N; ++n) {
    const T* o = out.data() + n * C;
    T* p = probs.data() + n * C;
    const A m = *std::max_element(o, o + C);
    A z = 0;
    for (std::size_t c = 0; c < C; ++c) {
      const A e = std::exp(A(o[c]) - m);  // read before write: probs may alias out
      z += e;
      p[c] = T(e);
    }
    for (std::size_t c = 0; c < C; ++c) p[c] = T(A(p[c]) / z);
  }
}

template <class T>
matrix<T> softmax(const matrix<T>& out) {
  matrix<T> p = matrix<T>::from_shape({out.shape()[0], out.shape()[1]});
  softmax(out, p);
  return p;
}

// The index of each row's largest entry (ties: the lowest index): the predicted class of a
// network with one output per class.
template <class T>
void argmax(const matrix<T>& out, std::vector<std::size_t>& classes) {
  const std::size_t N = out.shape()[0], C = out.shape()[1];
  if (C == 0) throw std::invalid_argument("rhonet::argmax: empty rows, out shape " + detail::shape_string(out));
  classes.resize(N);
  for (std::size_t n = 0; n < N; ++n) classes[n] = detail::argmax_row(out.data() + n * C, C);
}

template <class T>
std::vector<std::size_t> argmax(const matrix<T>& out) {
  std::vector<std::size_t> c;
  argmax(out, c);
  return c;
}

// Fraction of rows whose argmax is their label (C >= 2 outputs, labels in [0, C)).
template <class T>
double accuracy(const matrix<T>& out, std::span<const int> labels) {
  detail::check_labels("rhonet::accuracy", out, labels);
  const std::size_t N = out.shape()[0], C = out.shape()[1];
  if (N == 0) throw std::invalid_argument("rhonet::accuracy: no samples");
  std::size_t right = 0;
  for (std::size_t n = 0; n < N; ++n)
    right += detail::argmax_row(out.data() + n * C, C) == static_cast<std::size_t>(labels[n]);
  return double(right) / double(N);
}

// Counts of (true class, predicted class) pairs; rows are true classes, columns predicted
// (sklearn's and torchmetrics' convention). Accumulates over batches with add().
class confusion_matrix {
 public:
  explicit confusion_matrix(std::size_t classes) : classes_(classes), counts_(classes * classes, 0) {
    if (classes < 2) throw std::invalid_argument("rhonet::confusion_matrix: needs >= 2 classes, got " + std::to_string(classes));
  }
  // The matrix of one output (C >= 2 columns, one per class) against its labels.
  template <class T>
  confusion_matrix(const matrix<T>& out, std::span<const int> labels)
      : confusion_matrix((detail::check_labels("rhonet::confusion_matrix", out, labels), out.shape()[1])) {
    add(out, labels);
  }

  template <class T>
  void add(const matrix<T>& out, std::span<const int> labels) {
    detail::check_labels("rhonet::confusion_matrix::add", out, labels);
    const std::size_t C = out.shape()[1];
    if (C != classes_)
      throw std::invalid_argument("rhonet::confusion_matrix::add: an output of " + std::to_string(C) +
                                  " columns for a matrix of " + std::to_string(classes_) + " classes");
    for (std::size_t n = 0; n < labels.size(); ++n)
      ++counts_[static_cast<std::size_t>(labels[n]) * classes_ + detail::argmax_row(out.data() + n * C, C)];
  }
  void add(std::size_t truth, std::size_t predicted) {
    if (truth >= classes_ || predicted >= classes_)
      throw std::out_of_range("rhonet::confusion_matrix::add: class " +
                              std::to_string(std::max(truth, predicted)) + " outside [0, " +
                              std::to_string(classes_) + ")");
    ++counts_[truth * classes_ + predicted];
  }

  std::size_t operator()(std::size_t truth, std::size_t predicted) const {
    return counts_.at(truth * classes_ + predicted);
  }
  std::size_t classes() const { return classes_; }
  std::size_t total() const {
    std::size_t s = 0;
    for (std::size_t c : counts_) s += c;
    return s;
  }
  std::size_t correct() const {
    std::size_t s = 0;
    for (std::size_t c = 0; c < classes_; ++c) s += counts_[c * classes_ + c];
    return s;
  }
  // Fraction on the diagonal; NaN before any sample.
  double accuracy() const {
    const std::size_t t = total();
    return t ? double(correct()) / double(t) : std::numeric_limits<double>::quiet_NaN();
  }
  // For each true class, the fraction of its samples predicted as it (its recall); NaN for a
  // class without samples.
  std::vector<double> per_class_accuracy() const {
    std::vector<double> a(classes_);
    for (std::size_t t = 0; t < classes_; ++t) {
      std::size_t row = 0;
      for (std::size_t p = 0; p < classes_; ++p) row += counts_[t * classes_ + p];
      a[t] = row ? double(counts_[t * classes_ + t]) / double(row) : std::numeric_limits<double>::quiet_NaN();
    }
    return a;
  }

  // A text table: one row per true class, one column per predicted class, with the class's
  // accuracy at the end of its row. `names` (one per class) label the rows, else the ids.
  std::string str(std::span<const std::string> names = {}) const {
    if (!names.empty() && names.size() != classes_)
      throw std::invalid_argument("rhonet::confusion_matrix::str: " + std::to_string(names.size()) +
                                  " names for " + std::to_string(classes_) + " classes");
    const std::string corner = "true \\ pred";
    std::size_t name_w = corner.size(), cell_w = std::to_string(classes_ - 1).size();
    for (std::size_t c = 0; c < classes_; ++c)
      name_w = std::max(name_w, names.empty() ? std::to_string(c).size() : names[c].size());
    for (std::size_t v : counts_) cell_w = std::max(cell_w, std::to_string(v).size());
    cell_w += 2;
    auto pad = [](const std::string& v, std::size_t w) {
      return std::string(w > v.size() ? w - v.size() : 0, ' ') + v;
    };
    std::string s = pad(corner, name_w);
    for (std::size_t p = 0; p < classes_; ++p) s += pad(std::to_string(p), cell_w);
    s += "  accuracy\n";
    const std::vector<double> acc = per_class_accuracy();
    for (std::size_t t = 0; t < classes_; ++t) {
      s += pad(names.empty() ? std::to_string(t) : names[t], name_w);
      for (std::size_t p = 0; p < classes_; ++p) s += pad(std::to_string(counts_[t * classes_ + p]), cell_w);
      char buf[32];
      std::snprintf(buf, sizeof buf, "  %8.4f\n", acc[t]);
      s += buf;
    }
    return s;
  }

 private:
  std::size_t classes_;
  std::vector<std::size_t> counts_;  // counts_[truth * classes_ + predicted]
};

// Per-class accuracy (recall) of one output against its labels; NaN for an absent class.
template <class T>
std::vector<double> per_class_accuracy(const matrix<T>& out, std::span<const int> labels) {
  return confusion_matrix(out, labels).per_class_accuracy();
}

}  // namespace rhonet
