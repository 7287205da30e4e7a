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

  // Small eval-mode batches stream W once: GEMV for one sample, a few rows with the kernel of
  // core/small_batch.hpp. Train mode always takes GEMM, whose results the gradient tests pin.
  void forward(const matrix<T>& x, matrix<T>& y, mode m) {
    const std::size_t batch = x.shape()[0];
    if (m == mode::eval && batch == 1)
      blas::gemv<T>(false, N, fan_in, T(1), w_.value.data(), fan_in, x.data(), T(0), y.data());
    else if (m == mode::eval && batch <= detail::small_batch_max_rows)
      detail::small_batch_times_wt(x.data(), batch, fan_in, w_.value.data(), N, y.data());
    else
      blas::gemm<T>(false, true, batch, N, fan_in, T(1), x.data(), fan_in, w_.value.data(), fan_in,
                    T(0), y.data(), N);
    if constexpr (has_bias) detail::add_bias_rows(y.data(), batch, N, b_.value.data());
  }

  // dW = dY^T X; db = column sums of dY; dX = dY W (skipped when dx is null, e.g. for the
  // first layer).
  void backward(const matrix<T>& x, const matrix<T>&, const matrix<T>& dy, matrix<T>* dx) {
    const std::size_t batch = x.shape()[0];
    blas::gemm<T>(true, false, N, fan_in, batch, T(1), dy.data(), N, x.data(), fan_in, T(0),
                  w_.grad.data(), fan_in);
    if constexpr (has_bias) detail::bias_grad_rows(dy.data(), batch, N, b_.grad.data());
    if (dx)
      blas::gemm<T>(false, false, batch, fan_in, N, T(1), dy.data(), N, w_.value.data(), fan_in,
                    T(0), dx->data(), fan_in);
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
