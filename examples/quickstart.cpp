// Quickstart: define a network as a type, let the compiler check it, train it with the
// square loss and watch rho. Data: two Gaussian clouds in 64 dimensions (labels +-1), each
// input scaled to unit norm with a constant bias component appended, as in the paper.
#include <rhonet/rhonet.hpp>

#include <cmath>
#include <cstdio>
#include <memory>
#include <random>

using namespace rhonet;

// 64 inputs + 1 bias component; three BN-normalised hidden layers; one output.
using net_t = network<input<65>, dense<128>, batch_norm<>, relu, dense<128>, batch_norm<>, relu,
                      dense<128>, batch_norm<>, relu, dense<1>>;

// Checked by the compiler: only the last layer's norm factors out of g = rho * f.
static_assert(net_t::factoring_layer_count == 1 && net_t::degree_in_input == 0);

int main(int argc, char** argv) {
  ensure_blas_kernels(argc, argv);  // OpenBLAS on the CPU's best kernels (docs/performance.md)
  const std::size_t n = 1024, batch = 128;
  matrix<float> x = matrix<float>::from_shape({n, 65}), y = matrix<float>::from_shape({n, 1});
  std::mt19937_64 rng(42);
  std::normal_distribution<float> noise(0.f, 1.f);
  for (std::size_t i = 0; i < n; ++i) {
    y(i, 0) = i % 2 ? 1.f : -1.f;
    float norm = 0;
    for (std::size_t j = 0; j < 64; ++j) {
      x(i, j) = noise(rng) + (j < 8 ? 0.6f * y(i, 0) : 0.f);
      norm += x(i, j) * x(i, j);
    }
    for (std::size_t j = 0; j < 64; ++j) x(i, j) /= std::sqrt(norm);
    x(i, 64) = 1.f;  // the bias is a constant input component
  }

  auto net = std::make_unique<net_t>();
  init_frobenius(net->parameters(), 1.0, /*seed=*/1);  // every W_k with ||W_k||_F = 1
  sgd<float> opt(net->parameters(), {.lr = 0.01, .momentum = 0.9, .weight_decay = 0.01});
  const square_loss loss{reduction::mean};

  matrix<float> xb = matrix<float>::from_shape({batch, 65}), yb = matrix<float>::from_shape({batch, 1}),
                grad = matrix<float>::from_shape({batch, 1});
  for (int epoch = 1; epoch <= 20; ++epoch) {
    double total = 0;
    for (std::size_t b = 0; b < n / batch; ++b) {
      std::copy_n(x.data() + b * batch * 65, batch * 65, xb.data());
      std::copy_n(y.data() + b * batch, batch, yb.data());
      total += loss_and_grad(loss, net->forward(xb, mode::train), yb, grad);
      net->backward(grad);
      opt.step();
    }
    const auto& out = net->forward(x, mode::eval);
    std::printf("epoch %2d  loss %.4f  train error %.3f  rho %.4f  layer norms", epoch,
                total / double(n / batch), classification_error(out, y), double(net->rho()));
    for (float r : net->layer_norms()) std::printf(" %.3f", double(r));
    std::printf("\n");
  }
}
