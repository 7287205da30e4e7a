// rhonet's process_group (core/process_group.hpp) over an MPI communicator: the sums are
// MPI_Allreduce with MPI_SUM. MPI does not promise the same bits on every rank, but
// OpenMPI's algorithms (recursive doubling for short sums, a ring for long ones) give them,
// so the weights of the ranks stay equal; the data-parallel test checks that they do.
#pragma once

#include <climits>
#include <span>
#include <stdexcept>
#include <string>

#include <mpi.h>

#include <rhonet/core/process_group.hpp>

namespace rhonet::mpi {

class communicator_group final : public process_group {
 public:
  explicit communicator_group(MPI_Comm comm = MPI_COMM_WORLD) : comm_(comm) {
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void sum(std::span<float> v) const override { allreduce(v.data(), v.size(), MPI_FLOAT); }
  void sum(std::span<double> v) const override { allreduce(v.data(), v.size(), MPI_DOUBLE); }

 private:
  void allreduce(void* data, std::size_t count, MPI_Datatype type) const {
    if (count == 0) return;
    if (count > std::size_t(INT_MAX))
      throw std::length_error("rhonet::mpi: a sum of " + std::to_string(count) +
                              " values; MPI counts stop at INT_MAX");
    if (MPI_Allreduce(MPI_IN_PLACE, data, int(count), type, MPI_SUM, comm_) != MPI_SUCCESS)
      throw std::runtime_error("rhonet::mpi: MPI_Allreduce failed");
  }
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
};

}  // namespace rhonet::mpi
