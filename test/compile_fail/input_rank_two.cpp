// An input of rank 2 (only input<D> and input<C, H, W> exist).
// expect: input_rank_is_1_or_3<2, false>
#include <rhonet/rhonet.hpp>
#ifdef RHONET_FAIL
using net = rhonet::network<rhonet::input<28, 28>, rhonet::dense<2>>;
#else
using net = rhonet::network<rhonet::input<784>, rhonet::dense<2>>;
#endif
static_assert(net::output_size > 0);
int main() {}
