// A program for test_blas_runtime: what a program that uses check_blas_kernels() or
// ensure_blas_kernels() sees of its OpenBLAS kernels.
//   blas_kernels_probe check            calls check_blas_kernels() twice (it must warn once)
//   blas_kernels_probe ensure [--unset] calls ensure_blas_kernels(); --unset first removes
//                                       OPENBLAS_CORETYPE, so that kernels forced at load
//                                       look like OpenBLAS's own choice
// stdout: "entered" at every start of main, then key=value lines (the last ones count).
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <rhonet/core/blas.hpp>
#include <rhonet/core/ensure_blas_kernels.hpp>

int main(int argc, char** argv) {
  std::printf("entered\n");
  const char* env = std::getenv("OPENBLAS_CORETYPE");
  std::printf("coretype_env=%s\n", env ? env : "(unset)");
  std::fflush(stdout);
  if (argc >= 2 && std::strcmp(argv[1], "check") == 0) {
    rhonet::check_blas_kernels();
    rhonet::check_blas_kernels();
  } else if (argc >= 2 && std::strcmp(argv[1], "ensure") == 0) {
    if (argc >= 3 && std::strcmp(argv[2], "--unset") == 0) ::unsetenv("OPENBLAS_CORETYPE");
    rhonet::ensure_blas_kernels(argc, argv);
  } else {
    std::fprintf(stderr, "usage: blas_kernels_probe check | ensure [--unset]\n");
    return 2;
  }
  // A product, as in any program of the library: it is what links the BLAS in (the linker
  // drops a library nothing calls).
  float a = 2, b = 3, c = 0;
  rhonet::blas::gemm(false, false, 1, 1, 1, 1.f, &a, 1, &b, 1, 0.f, &c, 1);
  const rhonet::blas_kernels k = rhonet::blas_kernels_status();
  const char* marker = std::getenv(rhonet::detail::blas_restart_marker);
  std::printf("running=%s\nbest=%s\nbelow_best=%d\nmarker=%s\nproduct=%g\n", k.running.c_str(),
              k.best.c_str(), int(k.below_best), marker ? marker : "(unset)", double(c));
}
