// avg_pool2d on a flat vector (layer 3, input rank 1).
// expect: pool_needs_image_input<3, 1, false>
#include <rhonet/rhonet.hpp>
#ifdef RHONET_FAIL
using net = rhonet::network<rhonet::input<1, 4, 4>, rhonet::flatten, rhonet::relu, rhonet::avg_pool2d<2>>;
#else
using net = rhonet::network<rhonet::input<1, 4, 4>, rhonet::relu, rhonet::relu, rhonet::avg_pool2d<2>>;
#endif
static_assert(net::output_size > 0);
int main() {}
