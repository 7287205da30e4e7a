// A user's program: uses the installed rhonet through find_package(rhonet): a network type,
// a few Adam steps, and a saved model loaded back into a fresh network.
#include <rhonet/rhonet.hpp>

#include <filesystem>
#include <iostream>
#include <memory>
#include <unistd.h>

using net = rhonet::network<rhonet::input<5>, rhonet::dense<4>, rhonet::batch_norm<>, rhonet::relu,
                            rhonet::dense<1>>;
static_assert(net::factoring_layer_count == 1);

int main() {
  auto n = std::make_unique<net>();
  rhonet::init_frobenius(n->parameters(), 1.0, 1);
  rhonet::matrix<float> x = {{1, 2, 3, 4, 5}, {5, 4, 3, 2, 1}, {1, 0, 1, 0, 1}};
  rhonet::matrix<float> y = {{1}, {-1}, {1}}, grad;
  rhonet::adam<float> opt(n->parameters(), {.lr = 0.01});
  for (int step = 0; step < 3; ++step) {
    rhonet::loss_and_grad(rhonet::square_loss{rhonet::reduction::mean}, n->forward(x, rhonet::mode::train), y, grad);
    n->backward(grad);
    opt.step();
  }
  const auto dir = std::filesystem::temp_directory_path() / ("rhonet_consumer_" + std::to_string(::getpid()));
  rhonet::save_model(*n, dir, rhonet::preprocessing<float>{.unit_norm = true});
  auto m = std::make_unique<net>();
  const auto pre = rhonet::load_model(*m, dir);
  std::filesystem::remove_all(dir);
  const bool same = rhonet::predict(*m, x) == rhonet::predict(*n, x);
  std::cout << "consumer ok: " << opt.step_count() << " Adam steps, rho " << n->rho() << ", model reloaded "
            << (same && pre && pre->unit_norm ? "identically" : "DIFFERENTLY") << "\n";
  return same && pre && pre->unit_norm ? 0 : 1;
}
