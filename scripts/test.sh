#!/usr/bin/env bash
# Builds everything (tests and examples) and runs the test suite. CI runs exactly this.
#   bash scripts/test.sh              Release build in build/, the whole suite
#   bash scripts/test.sh --sanitize   AddressSanitizer + UndefinedBehaviorSanitizer build in
#                                     build-asan/, the unit and end-to-end tests
# Options by environment: BUILD_DIR (default build or build-asan), BUILD_TYPE (default
# Release, or RelWithDebInfo with --sanitize), JOBS (default: number of cores).
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=false
case "${1:-}" in
  "") ;;
  --sanitize) sanitize=true ;;
  *) echo "usage: bash scripts/test.sh [--sanitize]" >&2; exit 2 ;;
esac

bash scripts/install-deps.sh

# OpenBLAS picks its kernels from the CPU model and may fall back to slow ones on a model it
# does not know; choose them from the CPU's features instead (docs/performance.md).
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  coretype=$(bash scripts/blas-coretype.sh || true)
  if [ -n "$coretype" ]; then
    export OPENBLAS_CORETYPE=$coretype
    echo "OPENBLAS_CORETYPE=$coretype (from this CPU's features)"
  fi
fi

jobs=${JOBS:-$(nproc)}
if $sanitize; then
  build=${BUILD_DIR:-build-asan}
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" -DRHONET_SANITIZE=address,undefined \
    -DRHONET_BUILD_TESTS=ON -DRHONET_BUILD_EXAMPLES=ON >/dev/null
  cmake --build "$build" -j "$jobs"
  # Leak checking stays on; every report aborts the test (docs/reliability.md).
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  ctest --test-dir "$build" -j "$jobs" --output-on-failure -L 'unit|e2e'
  exit 0
fi

build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" \
  -DRHONET_BUILD_TESTS=ON -DRHONET_BUILD_EXAMPLES=ON -DRHONET_BUILD_BENCH=ON >/dev/null
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" -j "$jobs" --output-on-failure
