// conv2d<OutChannels, Kernel, Stride, Padding>: square kernel, zero padding, bias-free.
// Computed as im2col + one GEMM over the whole batch: cols (B*P x C*K*K) holds the receptive
// field of each of the B*P output pixels, Yt (B*P x OutC) = cols W^T, and each sample's
// P x OutC block is transposed into the NCHW output. One large GEMM instead of B small ones
// keeps OpenBLAS near its peak for the thin first layer (K*K*C = 9). The column buffer is
// kept from forward for the weight gradient. Homogeneous of degree 1 in x and W.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>

#include <rhonet/core/blas.hpp>
#include <rhonet/core/checks.hpp>
#include <rhonet/core/layer_concepts.hpp>
#include <rhonet/core/parameter.hpp>
#include <rhonet/core/shape.hpp>
#include <rhonet/core/tensor.hpp>

namespace rhonet {

namespace detail {
// Dimension I of a shape, or 1 when the shape has fewer dimensions (keeps a failed rank
// check from cascading into unrelated errors).
template <class S, std::size_t I>
inline constexpr std::size_t dim_or_one = I < S::rank ? S::dims[I < S::rank ? I : 0] : 1;
}  // namespace detail

template <class T, std::size_t Position, class In, std::size_t OutC, std::size_t K,
          std::size_t Stride, std::size_t Pad>
class conv2d_layer {
  static_assert(check::conv2d_needs_image_input<Position, In::rank>::value);
  static_assert(check::conv2d_kernel_and_stride_positive<Position, K, Stride>::value);
  static constexpr std::size_t C = detail::dim_or_one<In, 0>;
  static constexpr std::size_t H = detail::dim_or_one<In, 1>;
  static constexpr std::size_t W = detail::dim_or_one<In, 2>;
  static_assert(check::conv2d_kernel_fits_padded_input<Position, K, H + 2 * Pad, W + 2 * Pad>::value);
  static constexpr std::size_t safe_k = K <= H + 2 * Pad && K <= W + 2 * Pad && K > 0 ? K : 1;
  static constexpr std::size_t safe_s = Stride > 0 ? Stride : 1;

 public:
  static constexpr std::size_t out_height = (H + 2 * Pad - safe_k) / safe_s + 1;
  static constexpr std::size_t out_width = (W + 2 * Pad - safe_k) / safe_s + 1;
  static constexpr std::size_t pixels = out_height * out_width;  // P
  static constexpr std::size_t patch = C * K * K;                // C*K*K
  static constexpr std::size_t position = Position;

  using value_type = T;
  using in_shape = In;
  using out_shape = shape<OutC, out_height, out_width>;
  static constexpr int input_degree = 1;
  static constexpr bool has_weights = true;
  static constexpr int weight_degree = 1;

  conv2d_layer()
      : w_("layer" + std::to_string(Position) + ".weight", param_role::weight, {OutC, C, K, K},
           OutC, patch) {}

  // Buffers only grow: a smaller (last) batch reuses them without allocating.
  void resize(std::size_t batch) {
    grow(cols_, batch * pixels, patch);
    if constexpr (needs_transpose) grow(yt_, batch * pixels, OutC);
  }

  void forward(const matrix<T>& x, matrix<T>& y, mode) {
    const std::size_t batch = x.shape()[0], rows = batch * pixels;
    resize(batch);
    for (std::size_t s = 0; s < batch; ++s) im2col(x.data() + s * In::size, cols_.data() + s * pixels * patch);
    T* yt = needs_transpose ? yt_.data() : y.data();
    blas::gemm<T>(false, true, rows, OutC, patch, T(1), cols_.data(), patch, w_.value.data(), patch,
                  T(0), yt, OutC);
    if constexpr (needs_transpose)
      for (std::size_t s = 0; s < batch; ++s) transpose(yt + s * pixels * OutC, pixels, OutC, y.data() + s * OutC * pixels);
  }

  // dW = dYt^T cols; dcols = dYt W, scattered back by col2im (dYt: dY as B*P x OutC).
  void backward(const matrix<T>& x, const matrix<T>&, const matrix<T>& dy, matrix<T>* dx) {
    const std::size_t batch = x.shape()[0], rows = batch * pixels;
    const T* dyt = dy.data();
    if constexpr (needs_transpose) {
      grow(yt_, rows, OutC);
      for (std::size_t s = 0; s < batch; ++s) transpose(dy.data() + s * OutC * pixels, OutC, pixels, yt_.data() + s * pixels * OutC);
      dyt = yt_.data();
    }
    blas::gemm<T>(true, false, OutC, patch, rows, T(1), dyt, OutC, cols_.data(), patch, T(0),
                  w_.grad.data(), patch);
    if (!dx) return;
    grow(dcols_, rows, patch);
    blas::gemm<T>(false, false, rows, patch, OutC, T(1), dyt, OutC, w_.value.data(), patch, T(0),
                  dcols_.data(), patch);
    for (std::size_t s = 0; s < batch; ++s) col2im(dcols_.data() + s * pixels * patch, dx->data() + s * In::size);
  }

  parameter<T>& weight() { return w_; }
  const parameter<T>& weight() const { return w_; }
  template <class F> void for_each_param(F&& f) { f(w_); }
  template <class F> void for_each_buffer(F&&) {}

 private:
  // With one output channel or one output pixel, B*P x OutC is already the NCHW layout.
  static constexpr bool needs_transpose = OutC > 1 && pixels > 1;

  static void grow(matrix<T>& m, std::size_t rows, std::size_t cols) {
    if (m.shape()[0] < rows) m = matrix<T>::from_shape({rows, cols});
  }

  // out (cols x rows) = in (rows x cols)^T, both row-major.
  static void transpose(const T* in, std::size_t rows, std::size_t cols, T* out) {
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) out[c * rows + r] = in[r * cols + c];
  }

  // cols[p, (c*K + ki)*K + kj] = x[c, oh*S - Pad + ki, ow*S - Pad + kj], zero outside.
  static void im2col(const T* x, T* cols) {
    for (std::size_t oh = 0; oh < out_height; ++oh)
      for (std::size_t ow = 0; ow < out_width; ++ow) {
        T* row = cols + (oh * out_width + ow) * patch;
        for (std::size_t c = 0; c < C; ++c)
          for (std::size_t ki = 0; ki < K; ++ki) {
            const std::ptrdiff_t ih = std::ptrdiff_t(oh * Stride + ki) - std::ptrdiff_t(Pad);
            for (std::size_t kj = 0; kj < K; ++kj) {
              const std::ptrdiff_t iw = std::ptrdiff_t(ow * Stride + kj) - std::ptrdiff_t(Pad);
              const bool inside = ih >= 0 && ih < std::ptrdiff_t(H) && iw >= 0 && iw < std::ptrdiff_t(W);
              row[(c * K + ki) * K + kj] = inside ? x[(c * H + std::size_t(ih)) * W + std::size_t(iw)] : T(0);
            }
          }
      }
  }

  static void col2im(const T* cols, T* dx) {
    std::fill(dx, dx + In::size, T(0));
    for (std::size_t oh = 0; oh < out_height; ++oh)
      for (std::size_t ow = 0; ow < out_width; ++ow) {
        const T* row = cols + (oh * out_width + ow) * patch;
        for (std::size_t c = 0; c < C; ++c)
          for (std::size_t ki = 0; ki < K; ++ki) {
            const std::ptrdiff_t ih = std::ptrdiff_t(oh * Stride + ki) - std::ptrdiff_t(Pad);
            if (ih < 0 || ih >= std::ptrdiff_t(H)) continue;
            for (std::size_t kj = 0; kj < K; ++kj) {
              const std::ptrdiff_t iw = std::ptrdiff_t(ow * Stride + kj) - std::ptrdiff_t(Pad);
              if (iw < 0 || iw >= std::ptrdiff_t(W)) continue;
              dx[(c * H + std::size_t(ih)) * W + std::size_t(iw)] += row[(c * K + ki) * K + kj];
            }
          }
      }
  }

  parameter<T> w_;
  matrix<T> cols_ = matrix<T>::from_shape({0, patch});
  matrix<T> dcols_ = matrix<T>::from_shape({0, patch});
  matrix<T> yt_ = matrix<T>::from_shape({0, OutC});
};

template <std::size_t OutChannels, std::size_t Kernel, std::size_t Stride = 1, std::size_t Padding = 0>
struct conv2d {
  using spec_tag = layer_spec_tag;
  static constexpr int input_degree = 1;
  static constexpr bool has_weights = true;
  static constexpr int weight_degree = 1;
  static constexpr bool weight_normalizable = true;
  static std::string name() {
    return "conv2d<" + std::to_string(OutChannels) + "," + std::to_string(Kernel) + "," +
           std::to_string(Stride) + "," + std::to_string(Padding) + ">";
  }
  template <class T, std::size_t Position, class In>
  using bind = conv2d_layer<T, Position, In, OutChannels, Kernel, Stride, Padding>;
};

}  // namespace rhonet
