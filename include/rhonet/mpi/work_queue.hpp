// Tasks handed out over the ranks of a communicator as they become free (dynamic
// assignment: a rank that finishes early takes the next task, so uneven tasks balance). Rank 0
// holds the tasks, opaque texts, and may work on them itself from a thread of its own
// (take()); the other ranks ask for one task at a time and send rank 0 messages about them
// (their status as it changes), which rank 0 hands to its handler in the order they come.
//
// The protocol, all on rank 0's side in the thread that calls start() and serve() (the
// MPI_THREAD_FUNNELED thread):
//   1. start(header): rank 0 sends every rank a header (what the work is); each rank
//      answers with an empty text when it is ready, or with a problem (it then ends and takes
//      no task). Or abandon(): every rank is told there is no work, and ends.
//   2. serve(): each rank asks for a task, gets its index and text or "none", works, sends
//      messages, asks again. MPI keeps the order of messages between two ranks, so a rank's
//      messages about a task reach rank 0 before its next request: when every rank has been
//      told "none", rank 0 has every message, and serve() returns.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <mpi.h>

#include <rhonet/mpi/messages.hpp>

namespace rhonet::mpi {

namespace detail {
// Tags of the queue's messages (a communicator used for the queue carries nothing else).
enum queue_tag : int { header = 7101, abandoned, answer, request, task, no_task, note };

inline std::string encode_task(std::size_t index, const std::string& text) { return std::to_string(index) + "\n" + text; }

inline std::pair<std::size_t, std::string> decode_task(const std::string& m) {
  const std::size_t cut = m.find('\n');
  if (cut == std::string::npos) throw std::runtime_error("rhonet::mpi: a task message without its index");
  return {std::stoull(m.substr(0, cut)), m.substr(cut + 1)};
}
}  // namespace detail

// A task as handed out: its index in the queue and its text.
struct task {
  std::size_t index;
  std::string text;
};

// Rank 0's side.
class work_queue {
 public:
  work_queue(MPI_Comm comm, std::vector<std::string> tasks) : comm_(comm), tasks_(std::move(tasks)) {
    MPI_Comm_size(comm_, &size_);
    int rank = 0;
    MPI_Comm_rank(comm_, &rank);
    if (rank != 0) throw std::logic_error("rhonet::mpi::work_queue lives on rank 0; other ranks use work_client");
    done_.assign(static_cast<std::size_t>(size_), false);
    if (size_ > 0) done_[0] = true;
  }

  // Sends `header` to every other rank and returns their answers by rank: empty for a rank
  // that is ready (and for rank 0), its problem otherwise.
  std::vector<std::string> start(const std::string& header) {
    for (int r = 1; r < size_; ++r) send_text(comm_, r, detail::header, header);
    std::vector<std::string> answers(static_cast<std::size_t>(size_));
    for (int r = 1; r < size_; ++r) {
      answers[static_cast<std::size_t>(r)] = receive_text(comm_, r, detail::answer).text;
      if (!answers[static_cast<std::size_t>(r)].empty()) done_[static_cast<std::size_t>(r)] = true;
    }
    return answers;
  }

  // Instead of start(): every other rank learns there is no work, and ends.
  void abandon() {
    for (int r = 1; r < size_; ++r) send_text(comm_, r, detail::abandoned, "");
    done_.assign(done_.size(), true);
  }

  // The next task, for rank 0's own worker; any thread may call it (no MPI call).
  std::optional<task> take() {
    std::lock_guard<std::mutex> hold(mutex_);
    if (closed_ || next_ >= tasks_.size()) return std::nullopt;
    const std::size_t k = next_++;
    return task{k, tasks_[k]};
  }

  // No task is handed out from now on (those under way go on). Any thread; no MPI call.
  void close() {
    std::lock_guard<std::mutex> hold(mutex_);
    closed_ = true;
  }

  // Serves the other ranks until each has been told there is no more work, calling
  // on_message(rank, text) for every message, in the order they arrive, and idle() between
  // polls (e.g. to close() the queue when the program is asked to stop).
  void serve(const std::function<void(int, const std::string&)>& on_message,
             const std::function<void()>& idle = {}) {
    auto remaining = [&] {
      int n = 0;
      for (bool d : done_) n += !d;
      return n;
    };
    while (remaining() > 0) {
      auto m = try_receive_text(comm_);
      if (!m) {
        if (idle) idle();
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      if (m->tag == detail::note) {
        on_message(m->source, m->text);
      } else if (m->tag == detail::request) {
        if (auto t = take()) {
          send_text(comm_, m->source, detail::task, detail::encode_task(t->index, t->text));
        } else {
          send_text(comm_, m->source, detail::no_task, "");
          done_[static_cast<std::size_t>(m->source)] = true;
        }
      } else {
        throw std::runtime_error("rhonet::mpi::work_queue: unexpected message tag " + std::to_string(m->tag) +
                                 " from rank " + std::to_string(m->source));
      }
    }
  }

 private:
  MPI_Comm comm_;
  int size_ = 1;
  std::vector<std::string> tasks_;
  std::vector<bool> done_;  // told there is no work (or ended at start)
  std::mutex mutex_;
  std::size_t next_ = 0;
  bool closed_ = false;
};

// The side of every other rank.
class work_client {
 public:
  explicit work_client(MPI_Comm comm) : comm_(comm) {}

  // Rank 0's header; nullopt if rank 0 abandoned the work (then this rank ends).
  std::optional<std::string> header() {
    for (;;) {
      if (auto m = try_receive_text(comm_, 0, detail::header)) return m->text;
      if (try_receive_text(comm_, 0, detail::abandoned)) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  // The answer to the header: empty when ready; a problem otherwise (then take no task).
  void answer(const std::string& problem) { send_text(comm_, 0, detail::answer, problem); }

  // The next task, or nullopt when there is none left (then ask no more).
  std::optional<task> next() {
    send_text(comm_, 0, detail::request, "");
    for (;;) {
      if (auto m = try_receive_text(comm_, 0, detail::task)) {
        auto [index, text] = detail::decode_task(m->text);
        return task{index, std::move(text)};
      }
      if (try_receive_text(comm_, 0, detail::no_task)) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  // A message to rank 0 (it reaches rank 0 before this rank's next request).
  void send(const std::string& text) { send_text(comm_, 0, detail::note, text); }

 private:
  MPI_Comm comm_;
};

}  // namespace rhonet::mpi
