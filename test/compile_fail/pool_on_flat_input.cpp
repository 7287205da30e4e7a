// global_avg_pool on a flat vector (layer 2, input rank 1).
// expect: pool_needs_image_input<2, 1, false>
#include <rhonet/rhonet.hpp>
#ifdef RHONET_FAIL
using net = rhonet::network<rhonet::input<16>, rhonet::dense<8>, rhonet::global_avg_pool>;
#else
using net = rhonet::network<rhonet::input<1, 4, 4>, rhonet::relu, rhonet::global_avg_pool>;
#endif
static_assert(net::output_size > 0);
int main() {}
