// forward() has no default mode: train (batch statistics, dropout) or eval must be chosen.
// expect: candidate expects 2 arguments, 1 provided
#include <rhonet/rhonet.hpp>
using net = rhonet::network<rhonet::input<4>, rhonet::dense<2>>;
int main() {
  net n;
  rhonet::matrix<float> x = rhonet::matrix<float>::from_shape({3, 4});
#ifdef RHONET_FAIL
  n.forward(x);
#else
  n.forward(x, rhonet::mode::eval);
#endif
}
