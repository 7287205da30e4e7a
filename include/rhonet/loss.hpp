// Losses on a network output `out` (N x C) against targets (N x C).
//   C = 1 : a column of labels y in {-1, +1} (the paper's binary setting);
//   C >= 2: one-hot rows (the group's two-output code uses C = 2).
// Every loss offers
//   T value(out, target) const
//   T loss_and_grad(out, target, grad) const   // grad = dL/d out
// `grad` is resized only if its shape differs from out's, so a caller that keeps it
// between batches pays no allocation. `grad` may be the same object as `out`.
// Sums are accumulated in double (long double for long double) and rounded to T at the end.
// The classification metrics (misclassified, classification_error, binary_score, accuracy,
// ...) live in metrics.hpp, included here for code that found them in this header.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <variant>

#include <rhonet/core/tensor.hpp>
#include <rhonet/metrics.hpp>

namespace rhonet {

// sum : L = sum over samples (the paper's L = sum_n ...).
// mean: L divided by N, the number of samples (rows), not by N * C; the gradient likewise.
enum class reduction { sum, mean };

namespace detail {

template <class T>
using loss_acc_t = std::common_type_t<T, double>;

// Same shapes, not empty (the metrics' check, metrics.hpp).
template <class T>
void check_loss_shapes(const char* who, const matrix<T>& out, const matrix<T>& target) {
  check_metric_shapes(who, out, target);
}

template <class T>
void ensure_shape_of(matrix<T>& g, const matrix<T>& like) {
  if (g.shape()[0] != like.shape()[0] || g.shape()[1] != like.shape()[1])
    g.resize({like.shape()[0], like.shape()[1]});
}

// log(1 + exp(z)) without overflow for large z or loss of precision for very negative z.
template <class A>
A softplus(A z) {
  return std::max(z, A(0)) + std::log1p(std::exp(-std::abs(z)));
}

// 1 / (1 + exp(-z)), evaluated so that exp never overflows.
template <class A>
A sigmoid(A z) {
  if (z >= A(0)) return A(1) / (A(1) + std::exp(-z));
  const A e = std::exp(z);
  return e / (A(1) + e);
}

}  // namespace detail

// Square loss L = sum_n sum_c (out_nc - target_nc)^2, exactly the paper's: no 1/2 factor.
// dL/d out = 2 (out - target)  (divided by N for mean).
struct square_loss {
  reduction red = reduction::sum;

  template <class T>
  T value(const matrix<T>& out, const matrix<T>& target) const {
    detail::check_loss_shapes("rhonet::square_loss", out, target);
    using A = detail::loss_acc_t<T>;
    const T* o = out.data();
    const T* t = target.data();
    A s = 0;
    for (std::size_t i = 0, n = out.size(); i < n; ++i) {
      const A d = A(o[i]) - A(t[i]);
      s += d * d;
    }
    if (red == reduction::mean) s /= A(out.shape()[0]);
    return T(s);
  }

  template <class T>
  T loss_and_grad(const matrix<T>& out, const matrix<T>& target, matrix<T>& grad) const {
    detail::check_loss_shapes("rhonet::square_loss", out, target);
    detail::ensure_shape_of(grad, out);
    using A = detail::loss_acc_t<T>;
    const A scale = red == reduction::mean ? A(2) / A(out.shape()[0]) : A(2);
    const T* o = out.data();
    const T* t = target.data();
    T* g = grad.data();
    A s = 0;
    for (std::size_t i = 0, n = out.size(); i < n; ++i) {
      const A d = A(o[i]) - A(t[i]);  // read before write: grad may alias out
      s += d * d;
      g[i] = T(scale * d);
    }
    if (red == reduction::mean) s /= A(out.shape()[0]);
    return T(s);
  }
};

// Cross-entropy.
//   C = 1 : logistic loss  sum_n log(1 + exp(-y_n out_n)),  dL/d out_n = -y_n sigmoid(-y_n out_n).
//   C >= 2: softmax cross-entropy  sum_n sum_c t_nc (lse_n - out_nc), lse_n = log sum_c exp(out_nc),
//           dL/d out_nc = softmax_nc * sum_c t_nc - t_nc  (= softmax - t for one-hot rows;
//           soft target rows work too).
// Both use max-shifted exponentials, so any finite output gives a finite loss and gradient.
struct cross_entropy {
  reduction red = reduction::sum;

  template <class T>
  T value(const matrix<T>& out, const matrix<T>& target) const {
    detail::check_loss_shapes("rhonet::cross_entropy", out, target);
    return compute<T, false>(out, target, nullptr);
  }

  template <class T>
  T loss_and_grad(const matrix<T>& out, const matrix<T>& target, matrix<T>& grad) const {
    detail::check_loss_shapes("rhonet::cross_entropy", out, target);
    detail::ensure_shape_of(grad, out);
    return compute<T, true>(out, target, grad.data());
  }

 private:
  template <class T, bool WithGrad>
  T compute(const matrix<T>& out, const matrix<T>& target, T* g) const {
    using A = detail::loss_acc_t<T>;
    const std::size_t N = out.shape()[0], C = out.shape()[1];
    const A gscale = red == reduction::mean ? A(1) / A(N) : A(1);
    const T* o = out.data();
    const T* t = target.data();
    A s = 0;
    if (C == 1) {
      for (std::size_t n = 0; n < N; ++n) {
        const A y = t[n];
        const A z = -y * A(o[n]);
        s += detail::softplus(z);
        if constexpr (WithGrad) g[n] = T(-y * detail::sigmoid(z) * gscale);
      }
    } else {
      for (std::size_t n = 0; n < N; ++n) {
        const T* orow = o + n * C;
        const T* trow = t + n * C;
        A m = orow[0];
        for (std::size_t c = 1; c < C; ++c) m = std::max(m, A(orow[c]));
        A z = 0, tsum = 0;
        for (std::size_t c = 0; c < C; ++c) {
          z += std::exp(A(orow[c]) - m);
          tsum += A(trow[c]);
        }
        const A lse = m + std::log(z);
        for (std::size_t c = 0; c < C; ++c) {
          const A oc = orow[c], tc = trow[c];  // read before write: grad may alias out
          s += tc * (lse - oc);
          if constexpr (WithGrad) g[n * C + c] = T((std::exp(oc - m) / z * tsum - tc) * gscale);
        }
      }
    }
    if (red == reduction::mean) s /= A(N);
    return T(s);
  }
};

// Free-function forms, for code generic over the loss type.
template <class L, class T>
T loss_value(const L& loss, const matrix<T>& out, const matrix<T>& target) {
  return loss.value(out, target);
}

template <class L, class T>
T loss_and_grad(const L& loss, const matrix<T>& out, const matrix<T>& target, matrix<T>& grad) {
  return loss.loss_and_grad(out, target, grad);
}

// The loss a trainer minimises and reports, chosen at run time: the square loss (targets +-1
// for one output, one-hot rows otherwise) or cross-entropy.
using training_loss = std::variant<square_loss, cross_entropy>;

inline const char* loss_name(const training_loss& l) {
  return std::holds_alternative<square_loss>(l) ? "square" : "cross_entropy";
}
inline reduction loss_reduction(const training_loss& l) {
  return std::visit([](const auto& x) { return x.red; }, l);
}

template <class T>
T loss_value(const training_loss& l, const matrix<T>& out, const matrix<T>& target) {
  return std::visit([&](const auto& x) { return x.value(out, target); }, l);
}

template <class T>
T loss_and_grad(const training_loss& l, const matrix<T>& out, const matrix<T>& target, matrix<T>& grad) {
  return std::visit([&](const auto& x) { return x.loss_and_grad(out, target, grad); }, l);
}

}  // namespace rhonet
