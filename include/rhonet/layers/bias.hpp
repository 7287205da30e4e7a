// bias::off / bias::on: the optional additive bias of dense and conv2d (PyTorch's bias=True;
// here off by default, the paper's setting, where the bias is a constant input component).
// y = (the layer's linear map) + b, one b per output feature (dense) or per output channel
// (conv2d). A bias makes the layer not homogeneous in its input and in its weights:
// c W x + b is not a scaling of W x + b. Its parameter has role param_role::bias, which the
// optimisers do not weight-decay by default (default_decay_roles()), and init_frobenius /
// init_kaiming_normal set it to 0.
#pragma once

#include <cstddef>
#include <string>

#include <rhonet/layers/layer.hpp>
#include <rhonet/core/parameter.hpp>

namespace rhonet {

enum class bias { off, on };

namespace detail {

// The degree in input and weights of a layer that is homogeneous of degree 1 without bias.
constexpr int degree_with(bias b) { return b == bias::on ? not_homogeneous : 1; }

inline std::string bias_suffix(bias b) { return b == bias::on ? ",bias::on" : ""; }

template <class T>
parameter<T> make_bias(std::size_t position, std::size_t n) {
  return parameter<T>("layer" + std::to_string(position) + ".bias", param_role::bias, {n}, 1, n);
}

// Channel-major rows, conv2d's OutC x B*P layout: y[r * ld + k] += b[r] for k < len, and
// db[r] = the sum of row r of dy.
template <class T>
void add_bias_channels(T* y, std::size_t channels, std::size_t len, std::size_t ld, const T* b) {
  for (std::size_t r = 0; r < channels; ++r)
    for (std::size_t k = 0; k < len; ++k) y[r * ld + k] += b[r];
}
template <class T>
void bias_grad_channels(const T* dy, std::size_t channels, std::size_t len, std::size_t ld, T* db) {
  for (std::size_t r = 0; r < channels; ++r) {
    T s = 0;
    for (std::size_t k = 0; k < len; ++k) s += dy[r * ld + k];
    db[r] = s;
  }
}

// y (batch x n, row-major) += b on every row; db = the column sums of dy.
template <class T>
void add_bias_rows(T* y, std::size_t batch, std::size_t n, const T* b) {
  for (std::size_t i = 0; i < batch; ++i)
    for (std::size_t j = 0; j < n; ++j) y[i * n + j] += b[j];
}
template <class T>
void bias_grad_rows(const T* dy, std::size_t batch, std::size_t n, T* db) {
  for (std::size_t j = 0; j < n; ++j) db[j] = T(0);
  for (std::size_t i = 0; i < batch; ++i)
    for (std::size_t j = 0; j < n; ++j) db[j] += dy[i * n + j];
}

}  // namespace detail
}  // namespace rhonet
