// The checks of the MPI test programs, which are plain programs (Boost.Test would run once
// per rank): each rank counts its failures, and at the end all ranks agree on the outcome.
#pragma once

#include <cstdio>
#include <string>

#include <mpi.h>

namespace mpi_checks {

inline int failures = 0;

inline void check(bool ok, const std::string& what) {
  if (!ok) {
    ++failures;
    std::fprintf(stderr, "FAIL: %s\n", what.c_str());
  }
}

// The failures of all ranks: rank 0 prints `passed` (the line ctest looks for) when there are
// none, else their count after `who`. Returns the exit code (the same on every rank).
inline int finish(MPI_Comm comm, const char* who, const std::string& passed) {
  int all = 0, rank = 0;
  MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, comm);
  MPI_Comm_rank(comm, &rank);
  if (rank == 0) {
    if (all) std::printf("%s: %d failure(s)\n", who, all);
    else std::printf("%s\n", passed.c_str());
  }
  return all ? 1 : 0;
}

}  // namespace mpi_checks
