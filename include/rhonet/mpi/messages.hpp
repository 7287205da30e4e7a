// Text messages between ranks, waited for lazily: OpenMPI's blocking calls spin a core while
// they wait, which a rank that waits for minutes (for the next task, for rank 0 to load its
// data) should not do. Every wait here tests the request and sleeps a millisecond between tests.
#pragma once

#include <chrono>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include <mpi.h>

namespace rhonet::mpi {

// Waits for `request` to complete without spinning.
inline void wait_lazily(MPI_Request& request, MPI_Status* status = MPI_STATUS_IGNORE) {
  for (;;) {
    int done = 0;
    MPI_Test(&request, &done, status);
    if (done) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

inline int checked_size(const std::string& text) {
  if (text.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    throw std::length_error("rhonet::mpi: a message of " + std::to_string(text.size()) + " bytes is too long");
  return static_cast<int>(text.size());
}

inline void send_text(MPI_Comm comm, int destination, int tag, const std::string& text) {
  MPI_Request request;
  MPI_Isend(text.data(), checked_size(text), MPI_CHAR, destination, tag, comm, &request);
  wait_lazily(request);
}

struct message {
  int source = 0, tag = 0;
  std::string text;
};

// The next message from `source` with `tag` (MPI_ANY_SOURCE / MPI_ANY_TAG allowed), if one
// has arrived; never waits.
inline std::optional<message> try_receive_text(MPI_Comm comm, int source = MPI_ANY_SOURCE, int tag = MPI_ANY_TAG) {
  int flag = 0;
  MPI_Message handle;
  MPI_Status status;
  MPI_Improbe(source, tag, comm, &flag, &handle, &status);
  if (!flag) return std::nullopt;
  int count = 0;
  MPI_Get_count(&status, MPI_CHAR, &count);
  message m{status.MPI_SOURCE, status.MPI_TAG, std::string(static_cast<std::size_t>(count), '\0')};
  MPI_Mrecv(m.text.data(), count, MPI_CHAR, &handle, MPI_STATUS_IGNORE);
  return m;
}

// The next message from `source` with `tag`, waiting for it lazily.
inline message receive_text(MPI_Comm comm, int source, int tag) {
  for (;;) {
    if (auto m = try_receive_text(comm, source, tag)) return *m;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace rhonet::mpi
