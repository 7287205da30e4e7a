// weight_norm of a layer without weights.
// expect: weight_norm<L> needs L = dense<N> or conv2d
#include <rhonet/rhonet.hpp>
#ifdef RHONET_FAIL
using net = rhonet::network<rhonet::input<8>, rhonet::weight_norm<rhonet::relu>>;
#else
using net = rhonet::network<rhonet::input<8>, rhonet::weight_norm<rhonet::dense<2>>>;
#endif
static_assert(net::output_size > 0);
int main() {}
