// SIGINT and SIGTERM, handled outside the signal handler. The handler only writes the signal
// number into a pipe; a watcher thread reads it and runs the program's `on_signal(signo)` in
// ordinary context (it may take locks, write files, print), then ends the process with exit
// code 128 + signo. A second signal while that runs ends the process at once. deliver() lets
// the program itself stop as if a signal had come (under mpirun, when another rank got one).
#pragma once

#include <atomic>
#include <csignal>
#include <cstdio>
#include <functional>
#include <system_error>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

namespace interrupt {

inline const char* signal_name(int signo) {
  return signo == SIGINT ? "SIGINT" : signo == SIGTERM ? "SIGTERM" : "a signal";
}

namespace detail {
inline int pipe_write = -1;
inline std::atomic<int> received{0};

inline void handler(int signo) {
  if (received.fetch_add(1) > 0) ::_exit(128 + signo);  // a second signal: stop now
  const unsigned char c = static_cast<unsigned char>(signo);
  [[maybe_unused]] const ssize_t w = ::write(pipe_write, &c, 1);
}
}  // namespace detail

// For a thread that has nothing left to do once a signal came: the watcher ends the process.
[[noreturn]] inline void wait_for_exit() {
  for (;;) ::pause();
}

class watcher {
 public:
  explicit watcher(std::function<void(int)> on_signal) : on_signal_(std::move(on_signal)) {
    if (::pipe2(fds_, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
    detail::pipe_write = fds_[1];
    thread_ = std::thread([this] { run(); });
    struct sigaction sa {};
    sa.sa_handler = detail::handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
  }
  // As if `signo` had arrived: the watcher runs on_signal(signo) and ends the process. Does
  // nothing once a signal came. It does not count as a signal: a real one after it is not the
  // "second signal" that ends the process at once.
  void deliver(int signo) {
    if (detail::received.load() > 0) return;
    const unsigned char c = static_cast<unsigned char>(signo);
    [[maybe_unused]] const ssize_t w = ::write(fds_[1], &c, 1);
  }

  watcher(const watcher&) = delete;
  watcher& operator=(const watcher&) = delete;
  ~watcher() {
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    const unsigned char stop = 0;
    [[maybe_unused]] const ssize_t w = ::write(fds_[1], &stop, 1);
    thread_.join();
    ::close(fds_[0]);
    ::close(fds_[1]);
    detail::pipe_write = -1;
  }

 private:
  void run() {
    unsigned char c = 0;
    for (;;) {
      const ssize_t r = ::read(fds_[0], &c, 1);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0 || c == 0) return;
      on_signal_(c);
      std::fflush(stdout);
      std::fflush(stderr);
      ::_exit(128 + c);
    }
  }

  std::function<void(int)> on_signal_;
  int fds_[2] = {-1, -1};
  std::thread thread_;
};

}  // namespace interrupt
