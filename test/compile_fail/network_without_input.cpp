// The first argument must be input<...>.
// expect: network_starts_with_input<rhonet::dense<3>
// expect: a network starts with rhonet::input<D> (flat) or rhonet::input<C, H, W> (image)
// expect errors: 1
#include <rhonet/rhonet.hpp>
#ifdef RHONET_FAIL
using net = rhonet::network<rhonet::dense<3>, rhonet::relu>;
#else
using net = rhonet::network<rhonet::input<4>, rhonet::dense<3>, rhonet::relu>;
#endif
int main() { net n; (void)n; }
