// The model part of rhonet (nn.hpp) needs neither JSON nor zlib: this file does not compile if
// either leaks into it.
#include <rhonet/nn.hpp>

#ifdef NLOHMANN_JSON_VERSION_MAJOR
#error "rhonet/nn.hpp includes nlohmann/json"
#endif
#ifdef ZLIB_VERSION
#error "rhonet/nn.hpp includes zlib"
#endif
