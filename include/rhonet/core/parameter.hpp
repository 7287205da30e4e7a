// A trainable tensor with its gradient, its logical shape and its role. The role decides
// what an optimizer does with it (which parameters decay) and what the observers read.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <rhonet/core/tensor.hpp>

namespace rhonet {

enum class param_role {
  weight,        // W of dense / conv (its Frobenius norm is rho_k)
  wn_scale,      // rho_k of a weight-normalised layer (a 1x1 tensor)
  wn_direction,  // V of a weight-normalised layer (W = rho_k V / ||V||_F)
  bn_scale,      // gamma of an affine batch norm
  bn_shift,      // beta of an affine batch norm
  bias,          // b of dense / conv2d with bias::on (not weight-decayed by default)
};

inline const char* to_string(param_role r) {
  switch (r) {
    case param_role::weight: return "weight";
    case param_role::wn_scale: return "wn_scale";
    case param_role::wn_direction: return "wn_direction";
    case param_role::bn_scale: return "bn_scale";
    case param_role::bn_shift: return "bn_shift";
    case param_role::bias: return "bias";
  }
  return "?";
}

// Values are stored as 2-D row-major matrices (vectors as 1 x n); `shape` is the logical
// shape users and checkpoints see, e.g. {out, in, k, k} for a convolution kernel.
template <class T>
struct parameter {
  std::string name;
  param_role role{};
  std::vector<std::size_t> shape;
  matrix<T> value;
  matrix<T> grad;

  parameter() = default;
  parameter(std::string n, param_role r, std::vector<std::size_t> logical_shape,
            std::size_t rows, std::size_t cols)
      : name(std::move(n)), role(r), shape(std::move(logical_shape)),
        value(matrix<T>::from_shape({rows, cols})), grad(matrix<T>::from_shape({rows, cols})) {
    value.fill(T(0));
    grad.fill(T(0));
  }
  std::size_t size() const { return value.size(); }
};

// A non-trainable state tensor saved in checkpoints (batch-norm running statistics).
template <class T>
struct state_buffer {
  std::string name;
  std::vector<std::size_t> shape;
  vector<T> value;
};

}  // namespace rhonet
