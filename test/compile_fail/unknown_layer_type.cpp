// A type of the user's that is not a layer spec, at layer 3: reported once, with its
// position and its name, and what a layer type needs.
// expect: argument_is_layer_spec<3, my_layer, false>
// expect: or a type of your own with `using spec_tag = rhonet::layer_spec_tag`
// expect errors: 1
#include <rhonet/rhonet.hpp>
struct my_layer {};
#ifdef RHONET_FAIL
using net = rhonet::network<rhonet::input<4>, rhonet::dense<3>, rhonet::relu, my_layer, rhonet::dense<1>>;
#else
using net = rhonet::network<rhonet::input<4>, rhonet::dense<3>, rhonet::relu, rhonet::dense<1>>;
#endif
int main() { net n; (void)n; }
