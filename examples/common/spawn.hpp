// Runs a child program with an argument vector, without a shell (posix_spawnp): a path with
// quotes, spaces, `$()` or `;` is one argument like any other, never shell code.
#pragma once

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <string>
#include <system_error>
#include <vector>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace spawn {

struct outcome {
  bool exited = false;  // false: killed by `signal`
  int code = 0, signal = 0;
  bool ok() const { return exited && code == 0; }
  std::string describe() const {
    return exited ? "exited with status " + std::to_string(code) : "was killed by signal " + std::to_string(signal);
  }
};

// The arguments joined for a message, each quoted when it needs to be.
inline std::string shown(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) {
    const bool plain = !a.empty() && a.find_first_of(" \t\n'\"$`\\;&|()<>*?[]{}!#~") == std::string::npos;
    std::string q = a;
    if (!plain) {
      q = "'";
      for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
      q += "'";
    }
    s += (s.empty() ? "" : " ") + q;
  }
  return s;
}

// Runs argv[0] (looked up in PATH when it has no slash) and waits for it. `child`, if given,
// holds the child's pid while it runs (0 otherwise), so a signal watcher can stop it. Throws
// std::system_error if the program cannot be started.
inline outcome run(const std::vector<std::string>& argv, std::atomic<pid_t>* child = nullptr) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));  // posix_spawn does not write
  args.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = 0;
  if (const int e = ::posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ); e != 0)
    throw std::system_error(e, std::generic_category(), "cannot start " + argv[0]);
  if (child) child->store(pid);
  int status = 0;
  pid_t r;
  while ((r = ::waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
  }
  if (child) child->store(0);
  if (r < 0) throw std::system_error(errno, std::generic_category(), "waiting for " + argv[0]);
  outcome o;
  o.exited = WIFEXITED(status);
  o.code = o.exited ? WEXITSTATUS(status) : 0;
  o.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  return o;
}

}  // namespace spawn
