#!/usr/bin/env bash
# Builds everything (tests and examples) and runs the test suite. CI runs exactly this.
# Options by environment: BUILD_DIR (default build), BUILD_TYPE (default Release),
# JOBS (default: number of cores).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

build=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" \
  -DRHONET_BUILD_TESTS=ON -DRHONET_BUILD_EXAMPLES=ON -DRHONET_BUILD_BENCH=ON >/dev/null
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" -j "$jobs" --output-on-failure
