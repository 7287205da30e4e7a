// A negative dropout probability (layer 1).
// expect: dropout_probability_in_range<1, -5.0e-1, false>
#include <rhonet/rhonet.hpp>
#ifdef RHONET_FAIL
using net = rhonet::network<rhonet::input<8>, rhonet::dropout<-0.5>, rhonet::dense<1>>;
#else
using net = rhonet::network<rhonet::input<8>, rhonet::dropout<0.5>, rhonet::dense<1>>;
#endif
int main() { net n; (void)n; }
