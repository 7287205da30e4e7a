// A conv on a flat vector (layer 1, input rank 1).
// expect: conv2d_needs_image_input<1, 1, false>
// expect: conv2d needs an image input
#include <rhonet/rhonet.hpp>
#ifdef RHONET_FAIL
using net = rhonet::network<rhonet::input<784>, rhonet::conv2d<8, 3, 1, 1>>;
#else
using net = rhonet::network<rhonet::input<1, 28, 28>, rhonet::conv2d<8, 3, 1, 1>>;
#endif
static_assert(net::output_size > 0);
int main() {}
