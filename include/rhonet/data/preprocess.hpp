// Input preprocessing. The order matters and is checked where it can be:
//   1. standardise_per_channel(train, test)  optional; statistics from the train set only,
//                                             so no test information leaks into training;
//   2. scale_to_unit_norm(d)                  each row x -> x / ||x||_2 (the paper's inputs
//                                             lie on the unit sphere);
//   3. append_bias(d, 1)                      x -> [x / ||x||, 1]: the bias is a constant
//                                             input component, e.g. 784 + 1 = 785 for the
//                                             fully connected Fashion-MNIST networks.
// Steps 1 and 2 refuse a dataset that already has its bias column.
#pragma once

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <rhonet/core/tensor.hpp>
#include <rhonet/data/dataset.hpp>

namespace rhonet {

// Per-channel mean and (population) standard deviation over all samples and pixels: the
// preprocessing a model needs at inference, so it is a value saved with it
// (io/channel_stats.hpp: JSON, alone or in a checkpoint's extra).
template <class T>
struct channel_stats {
  std::vector<T> mean;
  std::vector<T> stddev;
};

namespace detail {

template <class T>
void require_no_bias(const dataset<T>& d, const char* step) {
  if (d.features() != d.pixels())
    throw std::logic_error(std::string("rhonet::") + step + "(" + d.source + "): expected " +
                           std::to_string(d.pixels()) + " = C*H*W features, found " +
                           std::to_string(d.features()) +
                           (d.has_bias() ? " (append_bias must come last)" : ""));
}

}  // namespace detail

// Statistics of the train set, accumulated in double so float data keeps its precision.
template <class T>
channel_stats<T> channel_statistics(const dataset<T>& train) {
  detail::require_no_bias(train, "channel_statistics");
  const std::size_t n = train.size(), plane = train.height * train.width, dim = train.features();
  if (n == 0 || plane == 0)
    throw std::invalid_argument("rhonet::channel_statistics(" + train.source + "): empty dataset");
  channel_stats<T> s;
  const T* x = train.x.data();
  const double count = static_cast<double>(n * plane);
  for (std::size_t c = 0; c < train.channels; ++c) {
    double sum = 0;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t p = 0; p < plane; ++p)
        sum += static_cast<double>(x[i * dim + c * plane + p]);
    const double mean = sum / count;
    double sq = 0;  // two passes: no cancellation as in E[x^2] - E[x]^2
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t p = 0; p < plane; ++p) {
        const double dev = static_cast<double>(x[i * dim + c * plane + p]) - mean;
        sq += dev * dev;
      }
    s.mean.push_back(static_cast<T>(mean));
    s.stddev.push_back(static_cast<T>(std::sqrt(sq / count)));
  }
  return s;
}

namespace detail {
// Rows of `cols` values whose first C * plane are C channels of `plane` pixels each.
template <class T>
void standardise_rows(T* x, std::size_t rows, std::size_t cols, std::size_t plane, const channel_stats<T>& s) {
  for (std::size_t c = 0; c < s.mean.size(); ++c) {
    const T mean = s.mean[c];
    const T inv = s.stddev[c] > T(0) ? T(1) / s.stddev[c] : T(1);
    for (std::size_t i = 0; i < rows; ++i)
      for (std::size_t p = 0; p < plane; ++p) {
        T& v = x[i * cols + c * plane + p];
        v = (v - mean) * inv;
      }
  }
}
}  // namespace detail

// x -> (x - mean_c) / std_c per channel; a constant channel (std 0) is only centred.
template <class T>
void standardise(dataset<T>& d, const channel_stats<T>& s) {
  detail::require_no_bias(d, "standardise");
  if (s.mean.size() != d.channels || s.stddev.size() != d.channels)
    throw std::invalid_argument("rhonet::standardise(" + d.source + "): statistics for " +
                                std::to_string(s.mean.size()) + " channels, dataset has " +
                                std::to_string(d.channels));
  detail::standardise_rows(d.x.data(), d.size(), d.features(), d.height * d.width, s);
}

// The same on raw rows (one image to classify, say): each row holds the C channels one
// after the other, so its length must be a multiple of C. Apply it before append_bias.
template <class T>
void standardise(matrix<T>& x, const channel_stats<T>& s) {
  const std::size_t C = s.mean.size(), cols = x.shape()[1];
  if (C == 0 || s.stddev.size() != C || cols % C != 0)
    throw std::invalid_argument("rhonet::standardise: statistics for " + std::to_string(C) + " channels (" +
                                std::to_string(s.stddev.size()) + " deviations) and rows of " +
                                std::to_string(cols) + " values, not a multiple of the channel count");
  detail::standardise_rows(x.data(), x.shape()[0], cols, cols / C, s);
}

// Computes the statistics on `train`, applies them to both sets and returns them.
template <class T>
channel_stats<T> standardise_per_channel(dataset<T>& train, dataset<T>& test) {
  channel_stats<T> s = channel_statistics(train);
  standardise(train, s);
  standardise(test, s);
  return s;
}

// Each row to unit L2 norm; a zero row stays zero (it has no direction to keep).
template <class T>
void scale_to_unit_norm(dataset<T>& d) {
  detail::require_no_bias(d, "scale_to_unit_norm");
  const std::size_t dim = d.features();
  T* x = d.x.data();
  for (std::size_t i = 0; i < d.size(); ++i) {
    T* row = x + i * dim;
    double sq = 0;
    for (std::size_t j = 0; j < dim; ++j)
      sq += static_cast<double>(row[j]) * static_cast<double>(row[j]);
    if (sq == 0) continue;
    const double norm = std::sqrt(sq);
    for (std::size_t j = 0; j < dim; ++j)
      row[j] = static_cast<T>(static_cast<double>(row[j]) / norm);
  }
}

// Appends a constant last column (default 1), after scale_to_unit_norm.
template <class T>
void append_bias(dataset<T>& d, T value = T(1)) {
  if (d.has_bias())
    throw std::logic_error("rhonet::append_bias(" + d.source +
                           "): the bias column is already there");
  const std::size_t n = d.size(), dim = d.features();
  matrix<T> x = matrix<T>::from_shape({n, dim + 1});
  const T* src = d.x.data();
  T* dst = x.data();
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < dim; ++j) dst[i * (dim + 1) + j] = src[i * dim + j];
    dst[i * (dim + 1) + dim] = value;
  }
  d.x = std::move(x);
}

}  // namespace rhonet
