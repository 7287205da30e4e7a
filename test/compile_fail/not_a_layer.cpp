// A template argument that is not a layer spec (layer 2 is int).
// expect: argument_is_layer_spec<2, int, false>
// expect: is not a layer spec
#include <rhonet/rhonet.hpp>
#ifdef RHONET_FAIL
using net = rhonet::network<rhonet::input<785>, rhonet::dense<512>, int>;
#else
using net = rhonet::network<rhonet::input<785>, rhonet::dense<512>, rhonet::relu>;
#endif
int main() { net n; (void)n; }
