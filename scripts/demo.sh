#!/usr/bin/env bash
# The main job: installs what is missing, builds Release and runs the quickstart.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DRHONET_BUILD_TESTS=OFF -DRHONET_BUILD_EXAMPLES=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target quickstart
"$build/examples/quickstart"
