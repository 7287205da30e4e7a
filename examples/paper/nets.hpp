// The paper's networks behind the model interface (rhonet/model.hpp): new_network() builds
// the one a setting asks for. Each family of network types (the same layers up to the output
// count) is compiled in a generated translation unit of its own (unit.cpp.in,
// examples/CMakeLists.txt), which includes only the network headers;
// training, observation and checkpoints depend on the element type only and are compiled once
// (rhonet::compiled). So every unit stays small (docs/performance.md, "Compile time").
#pragma once

#include <cstddef>
#include <memory>

#include <rhonet/model.hpp>

namespace paper {

struct setting;
struct data;

enum class variant { bn, wn, plain };  // with BN, weight-normalised, or neither

// FC4: D -> W -> W -> W -> Out, D = 785 (Fashion-MNIST) or 3073 (CIFAR-10); W = 512 (the
// paper's width) or 128 (the quick preset's).
template <std::size_t D, std::size_t W, std::size_t Out, variant V>
std::unique_ptr<rhonet::model<float>> new_fc();

// Conv4 on C x HW x HW images: 1 x 28 x 28 (Fashion-MNIST) or 3 x 32 x 32 (CIFAR-10).
template <std::size_t C, std::size_t HW, std::size_t Out, variant V>
std::unique_ptr<rhonet::model<float>> new_conv();

// The network of a setting (arch, BN or WN) for the prepared data (geometry, outputs).
std::unique_ptr<rhonet::model<float>> new_network(const setting& s, const data& d);

}  // namespace paper
