// Moved: the layer contract is rhonet/layers/layer.hpp. Kept so that code including this
// header still compiles.
#pragma once

#include <rhonet/layers/layer.hpp>
