// A network with no layer after its input.
// expect: network_has_layers<0, false>
// expect errors: 1
// expect: a network needs at least one layer
#include <rhonet/rhonet.hpp>
#ifdef RHONET_FAIL
using net = rhonet::network<rhonet::input<785>>;
#else
using net = rhonet::network<rhonet::input<785>, rhonet::dense<1>>;
#endif
int main() { net n; (void)n; }
