// dropout<P>: in train mode each element is zeroed with probability P and the others are
// scaled by 1 / (1 - P) ("inverted" dropout, so eval mode needs no rescaling); in eval mode
// it is the identity. PyTorch: torch.nn.Dropout(p=P), with net.train() / net.eval() being
// the mode argument of forward().
//
// Homogeneity: degree 1 in its input. In eval mode it is the identity; in train mode it
// multiplies by a random mask, so the same draws (the same RNG state) give
// dropout(c x) = c dropout(x): the network's analysis holds for each fixed mask, and its
// train-mode output is random only through the mask.
//
// Randomness: each dropout layer has its own std::mt19937_64, seeded with its layer position
// unless seed_dropout(net, seed) (or layer.seed(s)) sets it; an element is kept when a
// 53-bit uniform draw is below 1 - P, one draw per element in row-major order, so a seed
// gives the same masks on every platform. state() / restore_state() carry the RNG between
// processes (for a bit-identical resume).
#pragma once

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>

#include <rhonet/core/checks.hpp>
#include <rhonet/layers/layer.hpp>
#include <rhonet/core/shape.hpp>
#include <rhonet/core/tensor.hpp>

namespace rhonet {

template <class T, std::size_t Position, class In, double P>
class dropout_layer : public parameter_free_layer {
  static_assert(check::dropout_probability_in_range<Position, P>::value);

 public:
  using value_type = T;
  using in_shape = In;
  using out_shape = In;
  static constexpr std::size_t position = Position;
  static constexpr double probability = P;
  template <class F> void for_each_setting(F&& f) const { f("p", P); }

  // The mask only grows: a smaller (last) batch reuses it.
  void resize(std::size_t batch) {
    if (mask_.size() < batch * In::size) mask_ = matrix<T>::from_shape({1, batch * In::size});
  }

  void forward(const matrix<T>& x, matrix<T>& y, mode m) {
    const std::size_t n = x.size();
    masked_ = m == mode::train && P > 0.0;
    if (!masked_) {
      std::copy_n(x.data(), n, y.data());
      return;
    }
    resize(x.shape()[0]);
    const T scale = T(1.0 / (1.0 - P));
    const T* in = x.data();
    T* out = y.data();
    T* k = mask_.data();
    for (std::size_t i = 0; i < n; ++i) {
      k[i] = double(rng_() >> 11) * 0x1p-53 < 1.0 - P ? scale : T(0);
      out[i] = in[i] * k[i];
    }
  }

  // The same mask as the last forward pass (none in eval mode).
  void backward(const matrix<T>&, const matrix<T>&, const matrix<T>& dy, matrix<T>* dx) {
    if (!dx) return;
    const std::size_t n = dy.size();
    if (!masked_) {
      std::copy_n(dy.data(), n, dx->data());
      return;
    }
    const T* g = dy.data();
    const T* k = mask_.data();
    T* d = dx->data();
    for (std::size_t i = 0; i < n; ++i) d[i] = g[i] * k[i];
  }

  void seed(std::uint64_t s) { rng_.seed(s); }
  std::string state() const {
    std::ostringstream s;
    s << rng_;
    return s.str();
  }
  void restore_state(const std::string& text) {
    std::istringstream s(text);
    std::mt19937_64 rng;
    if (!(s >> rng) || !(s >> std::ws).eof())
      throw std::invalid_argument("rhonet::dropout (layer " + std::to_string(Position) +
                                  ")::restore_state: not an RNG state: '" + text.substr(0, 40) + "'");
    rng_ = rng;
  }

 private:
  std::mt19937_64 rng_{Position};
  matrix<T> mask_ = matrix<T>::from_shape({0, 0});  // 0 or 1 / (1 - P) per element
  bool masked_ = false;
};

template <double P>
struct dropout : parameter_free_layer {
  using spec_tag = layer_spec_tag;
  static std::string name() {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, P);  // shortest form: 0.5, not 0.500000
    return "dropout<" + std::string(buf, r.ptr) + ">";
  }
  template <class T, std::size_t Position, class In>
  using bind = dropout_layer<T, Position, In, P>;
};

// Seeds every dropout layer of `net`: layer k from seed and k, so that layers draw
// independent masks and the same seed gives the same masks.
template <class Net>
void seed_dropout(Net& net, std::uint64_t seed) {
  net.for_each_layer([&](auto& l) {
    if constexpr (requires { l.seed(seed); std::remove_cvref_t<decltype(l)>::probability; })
      l.seed(seed * 0x9e3779b97f4a7c15u + std::remove_cvref_t<decltype(l)>::position);
  });
}

}  // namespace rhonet
