// conv2d<OutChannels, Kernel, Stride, Padding>: square kernel, zero padding, bias-free.
// Computed as im2col + one GEMM over the whole batch: cols (C*K*K x B*P) holds the receptive
// field of each of the B*P output pixels as a column, Yc (OutC x B*P) = W cols, and each
// run of P values of Yc is copied to its place in the NCHW output. One large GEMM instead of
// B small ones keeps OpenBLAS efficient on the thin first layer (C*K*K = 9). The column
// buffer is kept from forward for the weight gradient. A kernel that covers the whole
// unpadded input is computed as the dense layer it is. Homogeneous of degree 1 in x and W.
// conv2d<OutC, K, S, P, bias::on>: plus b, one per output channel (layers/bias.hpp): not
// homogeneous in x nor in W.
// PyTorch: torch.nn.Conv2d(C, OutC, K, stride=S, padding=P, bias=False) / bias=True; the
// same kernel layout (OutC, C, K, K), cross-correlation, zero padding.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>

#include <rhonet/core/blas.hpp>
#include <rhonet/core/checks.hpp>
#include <rhonet/core/dispatch.hpp>
#include <rhonet/core/parallel.hpp>
#include <rhonet/layers/layer.hpp>
#include <rhonet/core/parameter.hpp>
#include <rhonet/core/shape.hpp>
#include <rhonet/core/tensor.hpp>
#include <rhonet/layers/bias.hpp>
#include <rhonet/layers/dense.hpp>

namespace rhonet {

namespace detail {
// Dimension I of a shape, or 1 when the shape has fewer dimensions (keeps a failed rank
// check from cascading into unrelated errors).
template <class S, std::size_t I>
inline constexpr std::size_t dim_or_one = I < S::rank ? S::dims[I < S::rank ? I : 0] : 1;
}  // namespace detail

template <class T, std::size_t Position, class In, std::size_t OutC, std::size_t K,
          std::size_t Stride, std::size_t Pad, bias B = bias::off>
class conv2d_layer {
  static_assert(check::conv2d_needs_image_input<Position, In::rank>::value);
  static_assert(check::conv2d_kernel_and_stride_positive<Position, K, Stride>::value);
  static constexpr std::size_t C = detail::dim_or_one<In, 0>;
  static constexpr std::size_t H = detail::dim_or_one<In, 1>;
  static constexpr std::size_t W = detail::dim_or_one<In, 2>;
  static_assert(check::conv2d_kernel_fits_padded_input<Position, K, H + 2 * Pad, W + 2 * Pad>::value);
  static constexpr std::size_t safe_k = K <= H + 2 * Pad && K <= W + 2 * Pad && K > 0 ? K : 1;
  static constexpr std::size_t safe_s = Stride > 0 ? Stride : 1;
  static constexpr bool has_bias = B == bias::on;

 public:
  static constexpr std::size_t out_height = (H + 2 * Pad - safe_k) / safe_s + 1;
  static constexpr std::size_t out_width = (W + 2 * Pad - safe_k) / safe_s + 1;
  static constexpr std::size_t pixels = out_height * out_width;  // P
  static constexpr std::size_t patch = C * K * K;                // C*K*K
  static constexpr std::size_t position = Position;
  // The geometry, for a model's manifest (layer.hpp, "settings").
  template <class F> void for_each_setting(F&& f) const {
    f("kernel", K);
    f("stride", Stride);
    f("padding", Pad);
    f("bias", has_bias);
  }

  using value_type = T;
  using in_shape = In;
  using out_shape = shape<OutC, out_height, out_width>;
  static constexpr int input_degree = detail::degree_with(B);
  static constexpr bool has_weights = true;
  static constexpr int weight_degree = detail::degree_with(B);

  conv2d_layer()
      : w_("layer" + std::to_string(Position) + ".weight", param_role::weight, {OutC, C, K, K},
           OutC, patch) {
    if constexpr (has_bias) b_ = detail::make_bias<T>(Position, OutC);
  }

  // Buffers only grow: a smaller (last) batch reuses them without allocating.
  void resize(std::size_t batch) {
    if constexpr (whole_input) return;
    grow(cols_, patch * batch * pixels);
    if constexpr (needs_permute) grow(yc_, OutC * batch * pixels);
  }

  // im2col and col2im run on the threads of rhonet::threads(), samples split between them
  // (each sample's columns are its own), each part compiled for the baseline and for AVX2
  // (core/dispatch.hpp).
  void forward(const matrix<T>& x, matrix<T>& y, mode m) {
    if constexpr (whole_input)
      detail::dense_forward(x.data(), x.shape()[0], patch, w_.value.data(), OutC, bias_value(), y.data(), m);
    else
      forward_columns(x, y);
  }

  // dW = dYc cols^T; db = row sums of dYc; dcols = W^T dYc, scattered back by col2im (dYc:
  // dY as OutC x B*P).
  void backward(const matrix<T>& x, const matrix<T>&, const matrix<T>& dy, matrix<T>* dx) {
    if constexpr (whole_input)
      detail::dense_backward(x.data(), x.shape()[0], patch, w_.value.data(), OutC, dy.data(), w_.grad.data(),
                             has_bias ? b_.grad.data() : nullptr, dx ? dx->data() : nullptr);
    else
      backward_columns(x, dy, dx);
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
  // The general case, im2col + one GEMM.
  void forward_columns(const matrix<T>& x, matrix<T>& y) {
    const std::size_t batch = x.shape()[0], ld = batch * pixels;
    resize(batch);
    detail::parallel_for(batch, sample_grain, [&](std::size_t s0, std::size_t s1) {
      detail::dispatch([&]() RHONET_KERNEL { im2col(x.data(), cols_.data(), ld, s0, s1); });
    });
    T* yc = needs_permute ? yc_.data() : y.data();
    blas::gemm<T>(false, false, OutC, ld, patch, T(1), w_.value.data(), patch, cols_.data(), ld, T(0), yc, ld);
    if constexpr (has_bias) detail::add_bias_channels(yc, OutC, ld, ld, b_.value.data());
    if constexpr (needs_permute) to_nchw(yc, y.data(), batch);
  }

  void backward_columns(const matrix<T>& x, const matrix<T>& dy, matrix<T>* dx) {
    const std::size_t batch = x.shape()[0], ld = batch * pixels;
    const T* dyc = dy.data();
    if constexpr (needs_permute) {
      grow(yc_, OutC * ld);
      from_nchw(dy.data(), yc_.data(), batch);
      dyc = yc_.data();
    }
    blas::gemm<T>(false, true, OutC, patch, ld, T(1), dyc, ld, cols_.data(), ld, T(0), w_.grad.data(), patch);
    if constexpr (has_bias) detail::bias_grad_channels(dyc, OutC, ld, ld, b_.grad.data());
    if (!dx) return;
    grow(dcols_, patch * ld);
    blas::gemm<T>(true, false, patch, ld, OutC, T(1), w_.value.data(), patch, dyc, ld, T(0), dcols_.data(), ld);
    detail::parallel_for(batch, sample_grain, [&](std::size_t s0, std::size_t s1) {
      detail::dispatch([&]() RHONET_KERNEL { col2im(dcols_.data(), ld, dx->data(), s0, s1); });
    });
  }

  // With one output channel, OutC x B*P is already the NCHW layout.
  static constexpr bool needs_permute = OutC > 1;

  static void grow(matrix<T>& m, std::size_t size) {
    if (m.size() < size) m = matrix<T>::from_shape({1, size});
  }

  // Between the GEMM's layout yc (OutC x B*P) and NCHW y (B x OutC x P): contiguous runs of
  // P values move, never single strided elements. Channels are split between the threads.
  static void to_nchw(const T* yc, T* y, std::size_t batch) {
    detail::parallel_for(OutC, channel_grain(batch), [&](std::size_t o0, std::size_t o1) {
      detail::dispatch([&]() RHONET_KERNEL {
        for (std::size_t o = o0; o < o1; ++o)
          for (std::size_t s = 0; s < batch; ++s) copy_run(yc + (o * batch + s) * pixels, y + (s * OutC + o) * pixels);
      });
    });
  }
  static void from_nchw(const T* y, T* yc, std::size_t batch) {
    detail::parallel_for(OutC, channel_grain(batch), [&](std::size_t o0, std::size_t o1) {
      detail::dispatch([&]() RHONET_KERNEL {
        for (std::size_t o = o0; o < o1; ++o)
          for (std::size_t s = 0; s < batch; ++s) copy_run(y + (s * OutC + o) * pixels, yc + (o * batch + s) * pixels);
      });
    });
  }
  // One run of P values, as a loop of constant length over unaliased pointers: short runs
  // (P = 16 in Conv4) become moves in place, where std::copy_n called memmove, which costs
  // more than the run; longer ones (49, 196) still become one memcpy call each.
  RHONET_KERNEL static void copy_run(const T* __restrict from, T* __restrict to) {
    for (std::size_t i = 0; i < pixels; ++i) to[i] = from[i];
  }
  static std::size_t channel_grain(std::size_t batch) {
    return (detail::parallel_grain + batch * pixels - 1) / (batch * pixels);
  }

  // im2col and col2im take the samples in blocks of this many, row after row of the block:
  // each row's part is then a sequential run, and the block's input planes stay in L1 even
  // when the sample size is a multiple of 4 KB and all their lines fall in the same cache
  // sets.
  static constexpr std::size_t block = 8;

  // A kernel over the whole unpadded input (one output pixel, as in a net's last conv) is a
  // dense layer: the patch order (c, ki, kj) is x's order (c, h, w), and y (B x OutC) is
  // already NCHW. It needs no column matrix, no copies, and gets dense's GEMV path for
  // small eval batches.
  static constexpr bool whole_input = Pad == 0 && K == H && K == W;
  const T* bias_value() const {
    if constexpr (has_bias) return b_.value.data();
    return nullptr;
  }

  // Samples per part: each writes patch x P column entries.
  static constexpr std::size_t sample_grain = (detail::parallel_grain + patch * pixels - 1) / (patch * pixels);

  // Output positions o whose input position o*Stride + k - Pad lies inside [0, n): [first, end),
  // clamped to [0, outputs] (a kernel row may see only padding).
  static constexpr std::size_t first_inside(std::size_t k, std::size_t outputs) {
    return k >= Pad ? 0 : std::min(outputs, (Pad - k + safe_s - 1) / safe_s);
  }
  static constexpr std::size_t end_inside(std::size_t k, std::size_t n, std::size_t outputs) {
    return n + Pad <= k ? first_inside(k, outputs)
                        : std::max(first_inside(k, outputs), std::min(outputs, (n + Pad - k + safe_s - 1) / safe_s));
  }

  // Calls f(row, s, plane, ki, kj) for every row (c, ki, kj) of cols and every
  // sample s of [s0, s1), in blocks of `block` samples; plane is the offset of sample s's
  // input channel c. A pixel meets its kernel offsets in (ki, kj) order.
  template <class F>
  RHONET_KERNEL static void for_each_row_part(std::size_t s0, std::size_t s1, F&& f) {
    for (std::size_t b0 = s0; b0 < s1; b0 += block) {
      const std::size_t b1 = std::min(s1, b0 + block);
      for (std::size_t c = 0; c < C; ++c)
        for (std::size_t ki = 0; ki < K; ++ki)
          for (std::size_t kj = 0; kj < K; ++kj)
            for (std::size_t s = b0; s < b1; ++s) f((c * K + ki) * K + kj, s, s * In::size + c * H * W, ki, kj);
    }
  }

  // cols[(c*K + ki)*K + kj, s*P + oh*OW + ow] = x[s, c, oh*S - Pad + ki, ow*S - Pad + kj] (zero
  // outside the input) for the samples [s0, s1), in rows of length ld.
  RHONET_KERNEL void im2col(const T* x, T* cols, std::size_t ld, std::size_t s0, std::size_t s1) {
    for_each_row_part(s0, s1, [&](std::size_t row, std::size_t s, std::size_t plane, std::size_t ki, std::size_t kj) RHONET_KERNEL {
      const std::size_t oh0 = first_inside(ki, out_height), oh1 = end_inside(ki, H, out_height);
      const std::size_t ow0 = first_inside(kj, out_width), ow1 = end_inside(kj, W, out_width);
      T* dst = cols + row * ld + s * pixels;
      // Every entry written once, the padding's zeros by the same loop (a call to memset or
      // memmove per short run would cost more than the run).
      for (std::size_t oh = 0; oh < out_height; ++oh) {
        T* out = dst + oh * out_width;
        if (oh < oh0 || oh >= oh1) {
          for (std::size_t ow = 0; ow < out_width; ++ow) out[ow] = T(0);
          continue;
        }
        const T* in = x + plane + (oh * Stride + ki - Pad) * W;
        for (std::size_t ow = 0; ow < out_width; ++ow) {
          const std::size_t iw = std::min(std::max(ow * Stride + kj, Pad), W - 1 + Pad) - Pad;  // clamped
          out[ow] = ow >= ow0 && ow < ow1 ? in[iw] : T(0);
        }
      }
    });
  }

  // The adjoint of im2col: sums every column entry back into the pixel it was read from, for
  // the samples [s0, s1) of dx.
  RHONET_KERNEL void col2im(const T* cols, std::size_t ld, T* dx, std::size_t s0, std::size_t s1) {
    std::fill(dx + s0 * In::size, dx + s1 * In::size, T(0));
    for_each_row_part(s0, s1, [&](std::size_t row, std::size_t s, std::size_t plane, std::size_t ki, std::size_t kj) RHONET_KERNEL {
      const std::size_t oh0 = first_inside(ki, out_height), oh1 = end_inside(ki, H, out_height);
      const std::size_t ow0 = first_inside(kj, out_width), ow1 = end_inside(kj, W, out_width);
      const T* src = cols + row * ld + s * pixels;
      for (std::size_t oh = oh0; oh < oh1; ++oh) {
        T* out = dx + plane + (oh * Stride + ki - Pad) * W + (ow0 * Stride + kj - Pad);
        for (std::size_t ow = ow0; ow < ow1; ++ow) out[(ow - ow0) * Stride] += src[oh * out_width + ow];
      }
    });
  }

  parameter<T> w_, b_;
  // Flat buffers: cols and dcols are patch x B*P, yc is OutC x B*P.
  matrix<T> cols_ = matrix<T>::from_shape({0, 0}), dcols_ = matrix<T>::from_shape({0, 0});
  matrix<T> yc_ = matrix<T>::from_shape({0, 0});
};

template <std::size_t OutChannels, std::size_t Kernel, std::size_t Stride = 1, std::size_t Padding = 0,
          bias B = bias::off>
struct conv2d {
  using spec_tag = layer_spec_tag;
  static constexpr int input_degree = detail::degree_with(B);
  static constexpr bool has_weights = true;
  static constexpr int weight_degree = detail::degree_with(B);
  static constexpr bool weight_normalizable = B == bias::off;
  static std::string name() {
    return "conv2d<" + std::to_string(OutChannels) + "," + std::to_string(Kernel) + "," +
           std::to_string(Stride) + "," + std::to_string(Padding) + detail::bias_suffix(B) + ">";
  }
  template <class T, std::size_t Position, class In>
  using bind = conv2d_layer<T, Position, In, OutChannels, Kernel, Stride, Padding, B>;
};

}  // namespace rhonet
