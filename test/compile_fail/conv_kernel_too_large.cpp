// A conv kernel larger than its padded input (layer 2: kernel 5, padded input 2x2).
// expect: conv2d_kernel_fits_padded_input<2, 5, 2, 2, false>
// expect: conv2d kernel is larger than its padded input
#include <rhonet/rhonet.hpp>
#ifdef RHONET_FAIL
using net = rhonet::network<rhonet::input<1, 2, 2>, rhonet::relu, rhonet::conv2d<1, 5, 1, 0>>;
#else
using net = rhonet::network<rhonet::input<1, 2, 2>, rhonet::relu, rhonet::conv2d<1, 2, 1, 0>>;
#endif
static_assert(net::output_size == 1);
int main() {}
