// A 3x3 pooling window on a 4x2 image (layer 2): pooling has no padding.
// expect: pool2d_window_fits_input<2, 3, 4, 2, false>
// expect errors: 1
// expect: window is larger than its input
#include <rhonet/rhonet.hpp>
#ifdef RHONET_FAIL
using net = rhonet::network<rhonet::input<1, 4, 2>, rhonet::relu, rhonet::max_pool2d<3>>;
#else
using net = rhonet::network<rhonet::input<1, 4, 2>, rhonet::relu, rhonet::max_pool2d<2>>;
#endif
static_assert(net::output_size > 0);
int main() {}
