// dense<N>: y = x W^T with W of shape (N, fan_in), bias-free (the bias is a constant input
// component, as in the paper). Positively homogeneous of degree 1 in x and in W.
// dense<N, bias::on>: y = x W^T + b, b of shape (N) (layers/bias.hpp): not homogeneous in x
// nor in W.
// PyTorch: torch.nn.Linear(fan_in, N, bias=False) / bias=True; the same W layout (out, in).
#pragma once

#include <cstddef>
#include <string>

#include <rhonet/core/blas.hpp>
#include <rhonet/core/checks.hpp>
#include <rhonet/layers/layer.hpp>
#include <rhonet/core/parameter.hpp>
#include <rhonet/core/shape.hpp>
#include <rhonet/core/small_batch.hpp>
#include <rhonet/core/tensor.hpp>
#include <rhonet/layers/bias.hpp>

namespace rhonet {

namespace detail {

// The arithmetic of a dense layer, x (rows x k) against W (n x k), with the sizes known at
// run time: compiled once per element type, not once per layer (docs/performance.md,
// "Compile time"). b and db are null without a bias.

// y = x W^T (+ b). Small eval-mode batches stream W once: GEMV for one sample, a few rows
// with the kernel of core/small_batch.hpp. Train mode always takes GEMM, whose results the
// gradient tests pin.
template <class T>
void dense_forward(const T* x, std::size_t rows, std::size_t k, const T* w, std::size_t n, const T* b, T* y,
                   mode m) {
  if (m == mode::eval && rows == 1)
    blas::gemv<T>(false, n, k, T(1), w, k, x, T(0), y);
  else if (m == mode::eval && rows <= small_batch_max_rows)
    small_batch_times_wt(x, rows, k, w, n, y);
  else
    blas::gemm<T>(false, true, rows, n, k, T(1), x, k, w, k, T(0), y, n);
  if (b) add_bias_rows(y, rows, n, b);
}

// dW = dY^T X; db = the column sums of dY; dX = dY W when dx is not null.
template <class T>
void dense_backward(const T* x, std::size_t rows, std::size_t k, const T* w, std::size_t n, const T* dy,
                    T* dw, T* db, T* dx) {
  blas::gemm<T>(true, false, n, k, rows, T(1), dy, n, x, k, T(0), dw, k);
  if (db) bias_grad_rows(dy, rows, n, db);
  if (dx) blas::gemm<T>(false, false, rows, k, n, T(1), dy, n, w, k, T(0), dx, k);
}

}  // namespace detail

template <class T, std::size_t Position, class In, std::size_t N, bias B = bias::off>
class dense_layer {
  static_assert(check::dense_width_positive<Position, N>::value);
  static_assert(check::dense_needs_flat_input<Position, In::rank>::value);
  static constexpr bool has_bias = B == bias::on;

 public:
  using value_type = T;
  using in_shape = In;
  using out_shape = shape<N>;
  static constexpr std::size_t position = Position;
  static constexpr std::size_t fan_in = In::size;
  static constexpr int input_degree = detail::degree_with(B);
  static constexpr bool has_weights = true;
  static constexpr int weight_degree = detail::degree_with(B);
  template <class F> void for_each_setting(F&& f) const { f("bias", has_bias); }

  dense_layer()
      : w_("layer" + std::to_string(Position) + ".weight", param_role::weight, {N, fan_in}, N,
           fan_in) {
    if constexpr (has_bias) b_ = detail::make_bias<T>(Position, N);
  }

  void resize(std::size_t) {}

  void forward(const matrix<T>& x, matrix<T>& y, mode m) {
    detail::dense_forward<T>(x.data(), x.shape()[0], fan_in, w_.value.data(), N,
                             has_bias ? b_.value.data() : nullptr, y.data(), m);
  }

  // dW = dY^T X; db = column sums of dY; dX = dY W (skipped when dx is null, e.g. for the
  // first layer).
  void backward(const matrix<T>& x, const matrix<T>&, const matrix<T>& dy, matrix<T>* dx) {
    detail::dense_backward<T>(x.data(), x.shape()[0], fan_in, w_.value.data(), N, dy.data(),
                              w_.grad.data(), has_bias ? b_.grad.data() : nullptr,
                              dx ? dx->data() : nullptr);
  }

  parameter<T>& weight() { return w_; }
  const parameter<T>& weight() const { return w_; }
  parameter<T>& bias_param() requires has_bias { return b_; }
  const parameter<T>& bias_param() const requires has_bias { return b_; }
  template <class F> void for_each_param(F&& f) {
    f(w_);
    if constexpr (has_bias) f(b_);
  }
  template <class F> void for_each_buffer(F&&) {}

 private:
  parameter<T> w_, b_;
};

template <std::size_t N, bias B = bias::off>
struct dense {
  using spec_tag = layer_spec_tag;
  static constexpr int input_degree = detail::degree_with(B);
  static constexpr bool has_weights = true;
  static constexpr int weight_degree = detail::degree_with(B);
  static constexpr bool weight_normalizable = B == bias::off;
  static std::string name() { return "dense<" + std::to_string(N) + detail::bias_suffix(B) + ">"; }
  template <class T, std::size_t Position, class In>
  using bind = dense_layer<T, Position, In, N, B>;
};

}  // namespace rhonet

// With rhonet::compiled (compiled.hpp), compiled once in the library.
#define RHONET_DENSE_INSTANCES(KW, T)                                                             \
  KW void ::rhonet::detail::dense_forward<T>(const T*, std::size_t, std::size_t, const T*, std::size_t, \
                                             const T*, T*, ::rhonet::mode);                         \
  KW void ::rhonet::detail::dense_backward<T>(const T*, std::size_t, std::size_t, const T*, std::size_t, \
                                              const T*, T*, T*, T*);
#if defined(RHONET_SEPARATE_COMPILATION)
RHONET_DENSE_INSTANCES(extern template, float)
RHONET_DENSE_INSTANCES(extern template, double)
#endif
