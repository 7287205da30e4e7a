// A conv with stride 0 (layer 1, kernel 3, stride 0).
// expect: conv2d_kernel_and_stride_positive<1, 3, 0, false>
#include <rhonet/rhonet.hpp>
#ifdef RHONET_FAIL
using net = rhonet::network<rhonet::input<1, 8, 8>, rhonet::conv2d<4, 3, 0, 1>>;
#else
using net = rhonet::network<rhonet::input<1, 8, 8>, rhonet::conv2d<4, 3, 1, 1>>;
#endif
static_assert(net::output_size > 0);
int main() {}
