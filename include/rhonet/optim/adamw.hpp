// AdamW, the same update as PyTorch's torch.optim.AdamW (amsgrad and maximize off): weight
// decay decoupled from the gradient. Per parameter w with gradient g, at step t = 1, 2, ...:
//   w *= 1 - lr lambda                 (lambda = weight_decay, only for decayed roles)
//   then Adam's step (adam.hpp) with g itself (no L2 term):
//   m = beta1 m + (1 - beta1) g,  v = beta2 v + (1 - beta2) g^2,
//   w -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// With Adam the decay added to the gradient is divided by sqrt(vhat) like the gradient; here
// every decayed weight shrinks by the same factor, whatever its gradient history.
#pragma once

#include <array>
#include <set>
#include <vector>

#include <rhonet/core/parameter.hpp>
#include <rhonet/optim/adam.hpp>

namespace rhonet {

struct adamw_options {
  double lr = 1e-3;
  std::array<double, 2> betas{0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 1e-2;  // PyTorch's AdamW default (Adam's is 0)
  std::set<param_role> decay_roles = default_decay_roles();
  bool operator==(const adamw_options&) const = default;
};

template <class T>
class adamw final : public detail::adam_family<T, true> {
 public:
  explicit adamw(std::vector<parameter<T>*> params, adamw_options opt = {})
      : detail::adam_family<T, true>(std::move(params),
                                     adam_options{opt.lr, opt.betas, opt.eps, opt.weight_decay, opt.decay_roles}),
        opt_(std::move(opt)) {}
  void set_lr(double lr) override {
    detail::adam_family<T, true>::set_lr(lr);
    opt_.lr = lr;
  }
  const adamw_options& options() const { return opt_; }

 private:
  adamw_options opt_;
};

}  // namespace rhonet
