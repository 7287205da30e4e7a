// A user's program: uses the installed rhonet through find_package(rhonet).
#include <rhonet/rhonet.hpp>

#include <iostream>
#include <memory>

using net = rhonet::network<rhonet::input<5>, rhonet::dense<4>, rhonet::batch_norm<>, rhonet::relu,
                            rhonet::dense<1>>;
static_assert(net::factoring_layer_count == 1);

int main() {
  auto n = std::make_unique<net>();
  for (auto* p : n->parameters()) p->value.fill(0.5f);
  rhonet::matrix<float> x = {{1, 2, 3, 4, 5}, {5, 4, 3, 2, 1}};
  const auto& y = n->forward(x, rhonet::mode::train);
  std::cout << "consumer ok: " << y.shape()[0] << " outputs, rho " << n->rho() << "\n";
  return y.shape()[0] == 2 ? 0 : 1;
}
