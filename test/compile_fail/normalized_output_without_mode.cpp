// normalized_output() has no default mode either.
// expect: candidate expects 3 arguments, 2 provided
#include <rhonet/rhonet.hpp>
using net = rhonet::network<rhonet::input<4>, rhonet::dense<2>>;
int main() {
  net n;
  rhonet::matrix<float> x = rhonet::matrix<float>::from_shape({3, 4}), f;
#ifdef RHONET_FAIL
  n.normalized_output(x, f);
#else
  n.normalized_output(x, f, rhonet::mode::eval);
#endif
}
