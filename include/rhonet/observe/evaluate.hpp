// evaluate: run a network over a whole data set in eval mode, in fixed-size chunks, and keep
// what the observers need: the outputs g (N x C), the features h_n entering the last layer
// (N x F), each sample's class (the label's class id among the outputs), the loss the model
// is trained with (mean over samples) and the error; for a binary task (C = 1 or 2) also the
// binary score s_n (out_0 for one output, out_0 - out_1 for two), the labels y_n in {-1, +1}
// and the normalised outputs f_n = s_n / rho.
//
// An evaluator owns its buffers: a repeated evaluation of the same data set allocates nothing
// after the first. Every forward pass uses exactly `chunk` rows (the last chunk is padded
// with zero rows whose outputs are discarded; rows are independent in eval mode), so the
// network's own buffers keep one batch size across the chunks and across data sets.
// It works on model<T> (model.hpp), so it is compiled once per element type.
// In a data-parallel run (set_process_group) each process runs every P-th chunk and the
// outputs and features are summed across the processes, the others' rows being zeros: every
// process ends with all of them, the numbers one process would compute (up to the sign of a
// zero), in 1/P of the time.
#pragma once

#include <algorithm>
#include <cstddef>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <rhonet/core/process_group.hpp>
#include <rhonet/core/tensor.hpp>
#include <rhonet/data/dataset.hpp>
#include <rhonet/loss.hpp>
#include <rhonet/model.hpp>

namespace rhonet {

// The result of one evaluation. Scalars and per-sample vectors are double.
template <class T>
struct evaluation {
  matrix<T> output = matrix<T>::from_shape({0, 0});    // N x C, the network's g
  matrix<T> features = matrix<T>::from_shape({0, 0});  // N x F, the input of the last layer
  std::vector<int> cls;       // class of each sample: for one output 0 (y = +1) or 1 (y = -1),
                              // else the index of the largest target entry
  std::vector<double> score;  // s_n (empty unless C is 1 or 2)
  std::vector<double> y;      // labels in {-1, +1} (empty unless C is 1 or 2)
  std::vector<double> f;      // f_n = s_n / rho
  double rho = 1;             // net.rho() at the time of the evaluation
  double loss = 0;            // the training loss, mean over samples (NaN without targets)
  double error = 0;           // fraction misclassified (rhonet::misclassified; NaN without targets)
  bool has_features = false;
  bool labelled = true;       // the data set has targets for every output

  std::size_t size() const { return output.shape()[0]; }
  std::size_t outputs() const { return output.shape()[1]; }
  // Number of classes: 2 for one output (+-1), else the number of outputs.
  std::size_t classes() const { return outputs() == 1 ? 2 : outputs(); }
};

namespace detail {

template <class M>
void ensure_matrix_shape(M& m, std::size_t rows, std::size_t cols) {
  if (m.shape()[0] != rows || m.shape()[1] != cols) m.resize({rows, cols});
}

// Class ids from targets: one output: 0 if target > 0 (y = +1), else 1; several: the index
// of the largest entry (one-hot rows; ties to the lowest index).
template <class T>
void target_classes(const matrix<T>& target, std::vector<int>& cls) {
  const std::size_t N = target.shape()[0], C = target.shape()[1];
  cls.resize(N);
  for (std::size_t n = 0; n < N; ++n) {
    const T* row = target.data() + n * C;
    cls[n] = C == 1 ? (row[0] > T(0) ? 0 : 1) : int(argmax_row(row, C));
  }
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

  // Evaluates the model on `data` in eval mode; with_features = false skips copying h.
  // `loss` is the loss reported (the one the model is trained with). Data without targets
  // (target with no columns) gives outputs and features, and NaN loss and error.
  // The returned reference stays valid until the next run().
  const evaluation<T>& run(model<T>& net, const dataset<T>& data, bool with_features = true,
                           const training_loss& loss = square_loss{reduction::mean});

  template <class Net>
    requires(!std::is_base_of_v<model<T>, Net>)
  const evaluation<T>& run(Net& net, const dataset<T>& data, bool with_features = true,
                           const training_loss& loss = square_loss{reduction::mean}) {
    static_assert(std::is_same_v<typename Net::value_type, T>,
                  "rhonet::evaluator<T>: the network's scalar type must be T");
    model_of<Net> m(net);
    return run(static_cast<model<T>&>(m), data, with_features, loss);
  }

  const evaluation<T>& result() const { return ev_; }

  // Shares the forward passes among the group's processes (the comment at the top). Every
  // process must call run() with the same model weights and data. nullptr: all here.
  void set_process_group(const process_group* group) { group_ = group; }

 private:
  std::size_t chunk_;
  const process_group* group_ = nullptr;
  matrix<T> x_ = matrix<T>::from_shape({0, 0});
  evaluation<T> ev_;
};

template <class T>
const evaluation<T>& evaluator<T>::run(model<T>& net, const dataset<T>& data, bool with_features,
                                       const training_loss& loss) {
  const std::size_t D = net.input_size(), C = net.output_size(), F = net.feature_size();
  const std::size_t N = data.x.shape()[0];
  if (data.x.shape()[1] != D)
    throw std::invalid_argument("rhonet::evaluator(" + data.source + "): data has " +
                                std::to_string(data.x.shape()[1]) + " features, the network takes " +
                                std::to_string(D));
  ev_.labelled = data.target.shape()[1] != 0;
  if (ev_.labelled && (data.target.shape()[0] != N || data.target.shape()[1] != C))
    throw std::invalid_argument("rhonet::evaluator(" + data.source + "): target must be N x " +
                                std::to_string(C) + " (the network's outputs), got " +
                                std::to_string(data.target.shape()[0]) + " x " +
                                std::to_string(data.target.shape()[1]));
  detail::ensure_matrix_shape(x_, chunk_, D);
  detail::ensure_matrix_shape(ev_.output, N, C);
  ev_.has_features = with_features;
  if (with_features) detail::ensure_matrix_shape(ev_.features, N, F);

  const std::size_t ranks = group_ ? std::size_t(group_->size()) : 1, rank = group_ ? std::size_t(group_->rank()) : 0;
  if (ranks > 1) {
    std::fill(ev_.output.begin(), ev_.output.end(), T(0));
    if (with_features) std::fill(ev_.features.begin(), ev_.features.end(), T(0));
  }
  for (std::size_t start = 0, k = 0; start < N; start += chunk_, ++k) {
    if (k % ranks != rank) continue;  // another process's chunk
    const std::size_t rows = std::min(chunk_, N - start);
    std::copy_n(data.x.data() + start * D, rows * D, x_.data());
    if (rows < chunk_) std::fill(x_.data() + rows * D, x_.data() + chunk_ * D, T(0));
    const matrix<T>& out = net.forward(x_, mode::eval);
    std::copy_n(out.data(), rows * C, ev_.output.data() + start * C);
    if (with_features) std::copy_n(net.features().data(), rows * F, ev_.features.data() + start * F);
  }
  if (ranks > 1) {
    group_->sum(std::span<T>(ev_.output.data(), N * C));
    if (with_features) group_->sum(std::span<T>(ev_.features.data(), N * F));
  }

  ev_.rho = net.rho();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (!ev_.labelled) {
    ev_.loss = ev_.error = nan;
    ev_.cls.clear();
  } else if (N > 0) {
    const training_loss mean_loss =
        std::visit([](auto l) -> training_loss { l.red = reduction::mean; return l; }, loss);
    ev_.loss = double(loss_value(mean_loss, ev_.output, data.target));
    ev_.error = classification_error(ev_.output, data.target);
    detail::target_classes(data.target, ev_.cls);
  } else {
    ev_.loss = ev_.error = 0;
    ev_.cls.clear();
  }
  if ((C == 1 || C == 2) && ev_.labelled) {
    ev_.y.resize(N);
    ev_.score.resize(N);
    ev_.f.resize(N);
    for (std::size_t n = 0; n < N; ++n) {
      ev_.y[n] = ev_.cls[n] == 0 ? 1.0 : -1.0;
      ev_.score[n] = C == 1 ? double(ev_.output(n, 0)) : double(ev_.output(n, 0)) - double(ev_.output(n, 1));
      ev_.f[n] = ev_.score[n] / ev_.rho;
    }
  } else {
    ev_.y.clear();
    ev_.score.clear();
    ev_.f.clear();
  }
  return ev_;
}

// One-off evaluation (allocates its buffers).
template <class Net, class T = typename Net::value_type>
evaluation<T> evaluate(Net& net, const dataset<T>& data, bool with_features = true,
                       std::size_t chunk = evaluator<T>::default_chunk) {
  evaluator<T> e(chunk);
  return e.run(net, data, with_features);
}

}  // namespace rhonet
