// max_pool2d on a flat vector (layer 2, input rank 1).
// expect: pool_needs_image_input<2, 1, false>
// expect errors: 1
// expect: pooling (global_avg_pool, max_pool2d, avg_pool2d) needs an image input
#include <rhonet/rhonet.hpp>
#ifdef RHONET_FAIL
using net = rhonet::network<rhonet::input<16>, rhonet::dense<8>, rhonet::max_pool2d<2>>;
#else
using net = rhonet::network<rhonet::input<1, 4, 4>, rhonet::relu, rhonet::max_pool2d<2>>;
#endif
static_assert(net::output_size > 0);
int main() {}
