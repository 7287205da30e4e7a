// OpenBLAS's run-time interface (core type, build configuration, thread count), reachable
// whether or not OpenBLAS is the BLAS rhonet is linked against. The functions are declared
// weak: with another BLAS (reference BLAS, BLIS, MKL) they resolve to null and every query
// here answers "not OpenBLAS" instead of failing to link. They are found when the program
// calls the BLAS anywhere (a matrix product): a linker with --as-needed, Debian's default,
// drops a BLAS library that nothing calls, and so does one linking a static libopenblas.a.
#pragma once

#include <string>

extern "C" {
char* openblas_get_corename(void) __attribute__((weak));
char* openblas_get_config(void) __attribute__((weak));
int openblas_get_num_threads(void) __attribute__((weak));
void openblas_set_num_threads(int) __attribute__((weak));
}

namespace rhonet::openblas {

// True when the BLAS in this process is OpenBLAS.
inline bool present() noexcept { return openblas_get_corename != nullptr; }

// The kernel set OpenBLAS chose at load time, e.g. "Haswell"; empty when not OpenBLAS.
inline std::string corename() {
  const char* s = openblas_get_corename ? openblas_get_corename() : nullptr;
  return s ? s : "";
}

// The build line, e.g. "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Haswell
// MAX_THREADS=64"; empty when not OpenBLAS.
inline std::string config() {
  const char* s = openblas_get_config ? openblas_get_config() : nullptr;
  return s ? s : "";
}

// A DYNAMIC_ARCH build carries several kernel sets and honours OPENBLAS_CORETYPE; any other
// build has one set, fixed when it was compiled.
inline bool selectable_kernels() { return config().find("DYNAMIC_ARCH") != std::string::npos; }

// OpenBLAS's thread count; 0 when not OpenBLAS.
inline int num_threads() noexcept {
  return openblas_get_num_threads ? openblas_get_num_threads() : 0;
}

// Sets OpenBLAS's thread count; returns false (and does nothing) when not OpenBLAS.
inline bool set_num_threads(int n) noexcept {
  if (!openblas_set_num_threads) return false;
  openblas_set_num_threads(n);
  return true;
}

}  // namespace rhonet::openblas
