// A sweep spread over the ranks of mpirun (docs/distributed.md). Rank 0 does what a single
// process does (the folder's lock, manifest.json, the report) and hands the runs out one at a
// time to whichever rank is free, itself included: its main thread serves the other ranks
// (all of its MPI calls), a thread of its own trains. The other ranks train the runs they are
// given and send rank 0 every status change. Built only when MPI is installed
// (RHONET_PAPER_MPI); this header itself needs no MPI.
#pragma once

#include <atomic>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "paper_cli.hpp"
#include "sweep.hpp"

namespace sweep_mpi {

// Whether an MPI launcher started this process (its environment says so).
bool launched_by_mpirun();

// MPI for the life of the program, started only under mpirun.
class session;
struct session_end {
  void operator()(session* s) const;
};
using session_ptr = std::unique_ptr<session, session_end>;

// Starts MPI when launched by mpirun; null otherwise (a plain process: no MPI call at all).
session_ptr start_if_launched(int& argc, char**& argv);
int rank(const session& s);
int ranks(const session& s);
std::string host(const session& s);
// Ends MPI early (rank 0, once the runs are done, so that the other ranks end during the
// report); idempotent.
void finalize(session& s);

// Ranks other than 0: trains the runs rank 0 hands out until there are none, then ends MPI;
// returns the exit code (0, or 128 + signal through the signal watcher). Errors go to rank 0.
// After a signal this rank ends only after rank 0 (or 30 s later, if rank 0 does not).
int serve_as_worker(session& s, const paper_cli::options& o);

// After an error: on rank 0 before the sweep started (the folder is refused, the data cannot
// be read), the other ranks learn there is no work and end quietly; later, or on another
// rank, MPI_Abort ends every rank (an error there is a bug or a lost rank, not a failed run).
void end_after_error(session& s);

// What rank 0 needs to run the sweep over the ranks.
struct rank0_plan {
  nlohmann::json header;                    // {"out": absolute folder, "token": the manifest's mpi.token}
  std::vector<sweep::planned_run> todo;     // the runs to train, in sweep order
  // Trains the runs `next` gives, on rank 0's own thread (the single-process loop).
  std::function<void(const std::function<std::optional<sweep::planned_run>()>& next)> train_locally;
  // A status change of run `index` from rank `rank` (called on the main thread).
  std::function<void(std::size_t index, const nlohmann::json& change, int rank)> remote_change;
  // Rank `rank` stopped its run because it got signal `signo` (main thread).
  std::function<void(int rank, int signo)> remote_signal;
  const std::atomic<bool>* stop = nullptr;  // set by a signal: no new run starts
  std::atomic<bool>* remote_done = nullptr; // set when every other rank has reported its last run
};

// Rank 0: checks in the other ranks, then hands out the runs until all are done (or a signal
// stops the sweep). Returns the problems ranks reported at check-in ("rank 2 on host: ...");
// when there are any, no run was started.
std::vector<std::string> run_on_ranks(session& s, const rank0_plan& p);

#if !RHONET_PAPER_MPI
// Built without MPI: no session ever starts (main refuses to run under mpirun).
inline constexpr bool available = false;
class session {};
inline void session_end::operator()(session*) const {}
inline bool launched_by_mpirun() { return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK"); }
inline session_ptr start_if_launched(int&, char**&) { return nullptr; }
inline int rank(const session&) { return 0; }
inline int ranks(const session&) { return 1; }
inline std::string host(const session&) { return {}; }
inline void finalize(session&) {}
inline int serve_as_worker(session&, const paper_cli::options&) { return 1; }
inline void end_after_error(session&) {}
inline std::vector<std::string> run_on_ranks(session&, const rank0_plan&) { return {}; }
#else
inline constexpr bool available = true;
#endif

}  // namespace sweep_mpi
