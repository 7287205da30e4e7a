// Makes a program run on the best OpenBLAS kernels of its CPU. OpenBLAS reads
// OPENBLAS_CORETYPE only while it loads, before main, so a program that finds itself on the
// wrong kernels can only set the variable and start again: ensure_blas_kernels() does that
// once, and otherwise warns (check_blas_kernels).
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#if defined(__linux__)
#include <unistd.h>
#endif

#include <rhonet/core/blas_kernels.hpp>

namespace rhonet {

namespace detail {

// Set in the environment of the restarted program, so that it never restarts again.
inline constexpr const char* blas_restart_marker = "RHONET_BLAS_RESTARTED";

enum class blas_fix { none, restart, warn };

// Restart only to replace OpenBLAS's own choice: never over a user's OPENBLAS_CORETYPE, never
// twice, and only when the variable can change the kernels.
inline blas_fix choose_blas_fix(const blas_kernels& k, bool coretype_set, bool restarted) {
  if (!k.below_best && !k.above_cpu) return blas_fix::none;
  if (k.below_best && !coretype_set && !restarted && k.selectable) return blas_fix::restart;
  return blas_fix::warn;
}

}  // namespace detail

// Call first thing in main, with main's own argc and argv, before any threads start (it
// changes the environment). When OpenBLAS chose kernels below the CPU's and
// OPENBLAS_CORETYPE is unset, it sets OPENBLAS_CORETYPE to the best core type and
// re-executes the program with the same arguments (a note on stderr says so); output
// buffered so far is flushed first. In every other case it returns, after check_blas_kernels()
// has warned if the kernels are wrong. Restarts only on Linux (/proc/self/exe).
inline void ensure_blas_kernels(int argc, char** argv) {
  const bool restarted = std::getenv(detail::blas_restart_marker) != nullptr;
#if defined(__linux__)
  if (restarted) ::unsetenv(detail::blas_restart_marker);  // not inherited by our own children
  const blas_kernels k = blas_kernels_status();
  if (argc > 0 && argv && argv[argc] == nullptr &&
      detail::choose_blas_fix(k, std::getenv("OPENBLAS_CORETYPE") != nullptr, restarted) ==
          detail::blas_fix::restart) {
    std::fprintf(stderr,
                 "rhonet: OpenBLAS chose its %s kernels on a CPU that runs its %s kernels; "
                 "restarting with OPENBLAS_CORETYPE=%s\n",
                 k.running.c_str(), k.best.c_str(), k.best.c_str());
    std::fflush(nullptr);
    if (::setenv("OPENBLAS_CORETYPE", k.best.c_str(), 1) == 0 &&
        ::setenv(detail::blas_restart_marker, "1", 1) == 0)
      ::execv("/proc/self/exe", argv);
    const int err = errno;  // exec failed: carry on as we are, and say how to fix it
    ::unsetenv("OPENBLAS_CORETYPE");
    ::unsetenv(detail::blas_restart_marker);
    std::fprintf(stderr, "rhonet: could not restart (%s)\n", std::strerror(err));
  } else if (restarted && k.below_best) {
    std::fprintf(stderr, "rhonet: the restart did not change OpenBLAS's kernels\n");
  }
#else
  (void)argc, (void)argv, (void)restarted;
#endif
  check_blas_kernels();
}

}  // namespace rhonet
