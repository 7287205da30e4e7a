// The processes of a data-parallel run as the layers and the trainer see them: a rank, a
// size and a sum across all of them, in place. The core library knows no MPI: rhonet::mpi
// provides the implementation over a communicator (mpi/process_group.hpp); a test may
// provide its own.
#pragma once

#include <cstddef>
#include <span>

namespace rhonet {

class process_group {
 public:
  virtual ~process_group() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Every process calls it with the same count; afterwards each holds the element-wise sum
  // over all processes, the same bits on every one.
  virtual void sum(std::span<float> values) const = 0;
  virtual void sum(std::span<double> values) const = 0;
};

}  // namespace rhonet
