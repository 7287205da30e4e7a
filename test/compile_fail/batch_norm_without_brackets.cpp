// batch_norm is a template: without <> it is not a type. g++ names the argument (2 = layer
// position 2), the kind, and prints the hint carried by network's parameter pack.
// expect: at argument 2 in template parameter list
// expect: Layers__each_a_type__write_batch_norm_with_brackets
// expect: expected a type, got
#include <rhonet/rhonet.hpp>
#ifdef RHONET_FAIL
using net = rhonet::network<rhonet::input<4>, rhonet::dense<3>, rhonet::batch_norm, rhonet::relu>;
#else
using net = rhonet::network<rhonet::input<4>, rhonet::dense<3>, rhonet::batch_norm<>, rhonet::relu>;
#endif
static_assert(net::layer_count == 3);
int main() {}
