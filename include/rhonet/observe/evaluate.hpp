// evaluate: run a network over a whole data set in eval mode, in fixed-size chunks, and keep
// what the observers need: the outputs g (N x C), the binary score s_n (out_0 for one output,
// out_0 - out_1 for two), the labels y_n in {-1, +1}, the normalised outputs f_n = s_n / rho,
// the features h_n entering the last layer (N x F), the mean square loss and the error.
//
// An evaluator owns its buffers: a repeated evaluation of the same data set allocates nothing
// after the first. Every forward pass uses exactly `chunk` rows (the last chunk is padded
// with zero rows whose outputs are discarded; rows are independent in eval mode), so the
// network's own buffers keep one batch size across the chunks and across data sets.
#pragma once

#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <rhonet/core/tensor.hpp>
#include <rhonet/data/dataset.hpp>
#include <rhonet/loss.hpp>

namespace rhonet {

// The result of one evaluation. Scalars and per-sample vectors are double.
template <class T>
struct evaluation {
  matrix<T> output = matrix<T>::from_shape({0, 0});    // N x C, the network's g
  matrix<T> features = matrix<T>::from_shape({0, 0});  // N x F, the input of the last layer
  std::vector<double> score;  // s_n (empty unless C is 1 or 2)
  std::vector<double> y;      // labels in {-1, +1} (empty unless C is 1 or 2)
  std::vector<double> f;      // f_n = s_n / rho
  double rho = 1;             // net.rho() at the time of the evaluation
  double loss = 0;            // square loss, mean over samples: (1/N) sum_n sum_c (g_nc - t_nc)^2
  double error = 0;           // fraction misclassified (rhonet::misclassified)
  bool has_features = false;

  std::size_t size() const { return output.shape()[0]; }
  std::size_t outputs() const { return output.shape()[1]; }
};

namespace detail {

template <class M>
void ensure_matrix_shape(M& m, std::size_t rows, std::size_t cols) {
  if (m.shape()[0] != rows || m.shape()[1] != cols) m.resize({rows, cols});
}

// Labels y_n in {-1, +1} from binary targets: the sign for one output (target > 0 -> +1),
// +1 iff target(n, 0) == 1 for two (one-hot, class 0 = +1).
template <class T>
void binary_labels(const matrix<T>& target, std::vector<double>& y) {
  const std::size_t N = target.shape()[0], C = target.shape()[1];
  y.resize(N);
  for (std::size_t n = 0; n < N; ++n)
    y[n] = C == 1 ? (target(n, 0) > T(0) ? 1.0 : -1.0) : (target(n, 0) == T(1) ? 1.0 : -1.0);
}

}  // namespace detail

template <class T>
class evaluator {
 public:
  static constexpr std::size_t default_chunk = 500;

  explicit evaluator(std::size_t chunk = default_chunk) : chunk_(chunk) {
    if (chunk_ == 0) throw std::invalid_argument("rhonet::evaluator: chunk must be positive");
  }

  std::size_t chunk() const { return chunk_; }

  // Evaluates `net` on `data` in eval mode; with_features = false skips copying h.
  // The returned reference stays valid until the next run().
  template <class Net>
  const evaluation<T>& run(Net& net, const dataset<T>& data, bool with_features = true) {
    static_assert(std::is_same_v<typename Net::value_type, T>,
                  "rhonet::evaluator<T>: the network's scalar type must be T");
    constexpr std::size_t D = Net::input_size, C = Net::output_size;
    constexpr std::size_t F = Net::template layer_type<Net::layer_count - 1>::in_shape::size;
    const std::size_t N = data.x.shape()[0];
    if (data.x.shape()[1] != D)
      throw std::invalid_argument("rhonet::evaluator: data has " + std::to_string(data.x.shape()[1]) +
                                  " features, the network takes " + std::to_string(D));
    if (data.target.shape()[0] != N || data.target.shape()[1] != C)
      throw std::invalid_argument("rhonet::evaluator: target must be N x " + std::to_string(C) +
                                  " (the network's outputs)");
    detail::ensure_matrix_shape(x_, chunk_, D);
    detail::ensure_matrix_shape(ev_.output, N, C);
    ev_.has_features = with_features;
    if (with_features) detail::ensure_matrix_shape(ev_.features, N, F);

    for (std::size_t start = 0; start < N; start += chunk_) {
      const std::size_t rows = std::min(chunk_, N - start);
      std::copy_n(data.x.data() + start * D, rows * D, x_.data());
      if (rows < chunk_) std::fill(x_.data() + rows * D, x_.data() + chunk_ * D, T(0));
      const matrix<T>& out = net.forward(x_, mode::eval);
      std::copy_n(out.data(), rows * C, ev_.output.data() + start * C);
      if (with_features) {
        const T* h;
        if constexpr (Net::layer_count >= 2) h = net.template activation<Net::layer_count - 2>().data();
        else h = x_.data();
        std::copy_n(h, rows * F, ev_.features.data() + start * F);
      }
    }

    ev_.rho = double(net.rho());
    if (N > 0) {
      ev_.loss = double(square_loss{reduction::mean}.value(ev_.output, data.target));
      ev_.error = classification_error(ev_.output, data.target);
    } else {
      ev_.loss = ev_.error = 0;
    }
    if constexpr (C == 1 || C == 2) {
      detail::binary_labels(data.target, ev_.y);
      ev_.score.resize(N);
      ev_.f.resize(N);
      for (std::size_t n = 0; n < N; ++n) {
        ev_.score[n] = C == 1 ? double(ev_.output(n, 0))
                              : double(ev_.output(n, 0)) - double(ev_.output(n, C - 1));
        ev_.f[n] = ev_.score[n] / ev_.rho;
      }
    } else {
      ev_.y.clear();
      ev_.score.clear();
      ev_.f.clear();
    }
    return ev_;
  }

  const evaluation<T>& result() const { return ev_; }

 private:
  std::size_t chunk_;
  matrix<T> x_ = matrix<T>::from_shape({0, 0});
  evaluation<T> ev_;
};

// One-off evaluation (allocates its buffers).
template <class Net, class T>
evaluation<T> evaluate(Net& net, const dataset<T>& data, bool with_features = true,
                       std::size_t chunk = evaluator<T>::default_chunk) {
  evaluator<T> e(chunk);
  return e.run(net, data, with_features);
}

}  // namespace rhonet
