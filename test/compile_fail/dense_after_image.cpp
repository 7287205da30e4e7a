// A dense layer straight after an image: flatten must be stated (layer 3, input rank 3).
// expect: dense_needs_flat_input<3, 3, false>
// expect: insert rhonet::flatten
#include <rhonet/rhonet.hpp>
#ifdef RHONET_FAIL
using net = rhonet::network<rhonet::input<1, 8, 8>, rhonet::conv2d<4, 3, 2, 1>, rhonet::relu, rhonet::dense<10>>;
#else
using net = rhonet::network<rhonet::input<1, 8, 8>, rhonet::conv2d<4, 3, 2, 1>, rhonet::relu, rhonet::flatten, rhonet::dense<10>>;
#endif
static_assert(net::output_size == 10);
int main() {}
