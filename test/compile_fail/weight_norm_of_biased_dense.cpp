// weight_norm reparametrises W only; a biased layer inside it would leave b untrained.
// expect: weight_norm<L> needs L = dense<N> or conv2d<...>, without bias
#include <rhonet/rhonet.hpp>
#ifdef RHONET_FAIL
using net = rhonet::network<rhonet::input<8>, rhonet::weight_norm<rhonet::dense<4, rhonet::bias::on>>>;
#else
using net = rhonet::network<rhonet::input<8>, rhonet::weight_norm<rhonet::dense<4>>>;
#endif
int main() { net n; (void)n; }
