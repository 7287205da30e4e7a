// network<...> is always float: a leading element type is a slip, with its own message.
// expect: network_starts_with_input<double
// expect: write rhonet::basic_network<double, rhonet::input<...>, layers...> or Net::rebind<double>
// expect errors: 1
#include <rhonet/rhonet.hpp>
#ifdef RHONET_FAIL
using net = rhonet::network<double, rhonet::input<4>, rhonet::dense<3>, rhonet::relu>;
#else
using net = rhonet::basic_network<double, rhonet::input<4>, rhonet::dense<3>, rhonet::relu>;
#endif
int main() { net n; (void)n; }
