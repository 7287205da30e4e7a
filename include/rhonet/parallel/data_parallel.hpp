// Data-parallel training over a process_group: every process holds the same weights, takes
// its slice of every global batch, and the processes together compute the gradient of the
// global batch. What makes P processes follow the trajectory of one:
//  - batch norm normalises with the statistics of the global batch (the network's
//    set_process_group: its sums are summed across processes, forward and backward);
//  - a loss with reduction::mean divides by the global batch, not the slice
//    (scale_loss_gradient);
//  - the gradients are summed across processes in one flat buffer (sum_gradients), so the
//    optimizer's step, which runs on every process, gives every process the same weights.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <rhonet/core/parameter.hpp>
#include <rhonet/core/process_group.hpp>
#include <rhonet/core/tensor.hpp>

namespace rhonet {

// Rows [begin, end) of a global batch of n rows that process `rank` of `size` takes: slices
// as even as they can be, the first n % size one row longer.
struct row_slice {
  std::size_t begin = 0, end = 0;
  std::size_t rows() const { return end - begin; }
};

inline row_slice slice_of(std::size_t n, int rank, int size) {
  if (size < 1 || rank < 0 || rank >= size)
    throw std::invalid_argument("rhonet::slice_of: rank " + std::to_string(rank) + " of " +
                                std::to_string(size) + " processes");
  if (n < std::size_t(size))
    throw std::invalid_argument("rhonet: a global batch of " + std::to_string(n) + " rows over " +
                                std::to_string(size) + " processes; expected at least one row per process");
  const std::size_t r = std::size_t(rank), p = std::size_t(size);
  const std::size_t base = n / p, extra = n % p;
  const std::size_t begin = r * base + std::min(r, extra);
  return {begin, begin + base + (r < extra ? 1 : 0)};
}

// Copies rows [s.begin, s.end) of `from` into `to` (resized when its row count differs).
template <class T>
void copy_rows(const matrix<T>& from, row_slice s, matrix<T>& to) {
  const std::size_t cols = from.shape()[1];
  if (to.shape()[0] != s.rows() || to.shape()[1] != cols) to.resize({s.rows(), cols});
  const T* src = from.data() + s.begin * cols;
  std::copy(src, src + s.rows() * cols, to.data());
}

// A loss with reduction::mean scales its gradient by 1 / (rows of the slice); the global
// batch's gradient needs 1 / (rows of the global batch): multiplies by slice / global.
template <class T>
void scale_loss_gradient(matrix<T>& grad, std::size_t slice_rows, std::size_t global_rows) {
  if (slice_rows == global_rows) return;
  const T f = T(double(slice_rows) / double(global_rows));
  for (T& g : grad) g *= f;
}

// Sums the gradients of `params` across the group, in place, through one flat buffer (one
// collective call per step; `flat` is kept by the caller so that no step allocates).
template <class T>
void sum_gradients(const std::vector<parameter<T>*>& params, const process_group& group,
                   std::vector<T>& flat) {
  std::size_t total = 0;
  for (const parameter<T>* p : params) total += p->grad.size();
  flat.resize(total);
  std::size_t at = 0;
  for (const parameter<T>* p : params) {
    std::copy(p->grad.begin(), p->grad.end(), flat.begin() + std::ptrdiff_t(at));
    at += p->grad.size();
  }
  group.sum(std::span<T>(flat));
  at = 0;
  for (parameter<T>* p : params) {
    std::copy(flat.begin() + std::ptrdiff_t(at), flat.begin() + std::ptrdiff_t(at + p->grad.size()),
              p->grad.begin());
    at += p->grad.size();
  }
}

}  // namespace rhonet
