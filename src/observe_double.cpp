// The double instantiations of one part of rhonet's top floor (include/rhonet/compiled.hpp),
// compiled once into the library rhonet::compiled; one part and type per file keeps each
// translation unit small.
#define RHONET_INSTANTIATE
#include <rhonet/compiled.hpp>

namespace rhonet {
RHONET_TOP_FLOOR_OBSERVE(template, double)
}  // namespace rhonet
