// Whether this process was started by an MPI launcher, and MPI's lifetime in a program that
// also runs without one. A program that links MPI but calls MPI_Init only when launched by
// mpirun (or a PMIx launcher such as srun --mpi=pmix) starts as a plain process otherwise:
// no daemon, no PMIx connection, no wait. OpenMPI's launchers set OMPI_COMM_WORLD_SIZE;
// PMIx launchers set PMIX_RANK.
#pragma once

#include <cstdlib>
#include <stdexcept>
#include <string>

#include <mpi.h>

namespace rhonet::mpi {

// True when an MPI launcher started this process (the environment says so).
inline bool launched_by_mpirun() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMIX_RANK") != nullptr;
}

// MPI from construction to finalize() (or destruction). Asks for MPI_THREAD_FUNNELED: a
// program may run threads, but only the one that constructed the environment calls MPI.
class environment {
 public:
  environment(int& argc, char**& argv) {
    int provided = MPI_THREAD_SINGLE;
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
      throw std::runtime_error("rhonet::mpi: MPI_Init_thread failed");
    if (provided < MPI_THREAD_FUNNELED) {
      MPI_Finalize();
      throw std::runtime_error("rhonet::mpi: the MPI library does not support MPI_THREAD_FUNNELED");
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    char name[MPI_MAX_PROCESSOR_NAME];
    int length = 0;
    MPI_Get_processor_name(name, &length);
    host_.assign(name, static_cast<std::size_t>(length));
  }
  environment(const environment&) = delete;
  environment& operator=(const environment&) = delete;
  ~environment() { finalize(); }

  int rank() const noexcept { return rank_; }
  int size() const noexcept { return size_; }
  const std::string& host() const noexcept { return host_; }
  MPI_Comm world() const noexcept { return MPI_COMM_WORLD; }

  // Ends MPI (a collective wait for the other ranks); idempotent. After it, no MPI call.
  void finalize() noexcept {
    if (!finalized_) MPI_Finalize();
    finalized_ = true;
  }

 private:
  int rank_ = 0, size_ = 1;
  std::string host_;
  bool finalized_ = false;
};

}  // namespace rhonet::mpi
