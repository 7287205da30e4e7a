// Writes saved models for test/numpy_loader.py: for each of two networks (a conv net with
// every kind of layer the reference loader covers, and a fully connected one on unit-norm
// inputs with a bias input), FOLDER/<name>/model (save_model, with its preprocessing),
// FOLDER/<name>/raw.npy (raw inputs) and FOLDER/<name>/expected.npy (rhonet's predictions).
// Usage: numpy_loader_fixture FOLDER
#include <cstdio>
#include <exception>
#include <filesystem>
#include <memory>
#include <string>

#include <rhonet/rhonet.hpp>

using namespace rhonet;

namespace {

using conv_net = network<input<2, 8, 8>, weight_norm<conv2d<4, 3, 1, 1>>, batch_norm<affine::scale_shift>, relu,
                         max_pool2d<2>, conv2d<5, 3, 2, 1, bias::on>, relu, avg_pool2d<2, 1>, flatten,
                         dropout<0.25>, dense<6, bias::on>, batch_norm<affine::scale>, relu, dense<3>>;
using fc_net = network<input<13>, dense<8>, batch_norm<>, relu, dense<8>, relu, dense<4, bias::on>>;
using gap_net = network<input<3, 6, 6>, conv2d<4, 3, 1, 0>, relu, global_avg_pool, dense<2>>;

matrix<float> random_rows(std::size_t rows, std::size_t cols, std::uint64_t seed, float offset) {
  normal_rng rng(seed);
  matrix<float> m = matrix<float>::from_shape({rows, cols});
  for (auto& v : m) v = offset + float(rng());
  return m;
}

// A few training steps in train mode (random targets), so that the BN statistics, the
// weight-norm scale and the biases are not their initial values; then the files.
template <class Net>
void write_case(const std::filesystem::path& dir, Net& net, const preprocessing<float>& pre, std::size_t raw_cols,
                std::uint64_t seed) {
  init_kaiming_normal(net.parameters(), seed);
  seed_dropout(net, seed);
  for (parameter<float>* p : net.parameters())
    if (p->role == param_role::bias || p->role == param_role::bn_shift)
      for (auto& v : p->value) v = 0.1f;
  if constexpr (requires { net.template layer<1>().eps; }) net.template layer<1>().eps = 1e-3f;  // not the default
  adam<float> opt(net.parameters(), {.lr = 0.01});
  matrix<float> grad;
  for (std::uint64_t k = 0; k < 5; ++k) {
    const matrix<float> x = pre.apply(random_rows(16, raw_cols, seed + k, 0.5f));
    const matrix<float> y = random_rows(16, Net::output_size, seed + 100 + k, 0.f);
    loss_and_grad(square_loss{reduction::mean}, net.forward(x, mode::train), y, grad);
    net.backward(grad);
    opt.step();
  }
  std::filesystem::create_directories(dir);
  save_model(net, dir / "model", pre);
  const matrix<float> raw = random_rows(7, raw_cols, seed + 1000, 0.5f);
  const matrix<float>& out = predict(net, pre.apply(raw));
  npy::write<float>((dir / "raw.npy").string(), raw.data(), {raw.shape()[0], raw.shape()[1]});
  npy::write<float>((dir / "expected.npy").string(), out.data(), {out.shape()[0], out.shape()[1]});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: numpy_loader_fixture FOLDER\n");
    return 2;
  }
  try {
    const std::filesystem::path root = argv[1];
    auto conv = std::make_unique<conv_net>();
    write_case(root / "conv", *conv, {.standardise = channel_stats<float>{{0.4f, 0.6f}, {1.5f, 0.f}}}, 128, 1);
    auto fc = std::make_unique<fc_net>();
    write_case(root / "fc", *fc, {.unit_norm = true, .bias_input = 1.f}, 12, 2);
    auto gap = std::make_unique<gap_net>();
    write_case(root / "gap", *gap, {}, 108, 3);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "numpy_loader_fixture: %s\n", e.what());
    return 1;
  }
  return 0;
}
