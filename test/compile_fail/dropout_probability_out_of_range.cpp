// dropout<1.0> would zero everything and divide by 0 (layer 3); P must lie in [0, 1).
// expect: dropout_probability_in_range<3, 1.0e+0, false>
// expect errors: 1
// expect: dropout<P> needs 0 <= P < 1
#include <rhonet/rhonet.hpp>
#ifdef RHONET_FAIL
using net = rhonet::network<rhonet::input<8>, rhonet::dense<4>, rhonet::relu, rhonet::dropout<1.0>, rhonet::dense<1>>;
#else
using net = rhonet::network<rhonet::input<8>, rhonet::dense<4>, rhonet::relu, rhonet::dropout<0.0>, rhonet::dense<1>>;
#endif
int main() { net n; (void)n; }
