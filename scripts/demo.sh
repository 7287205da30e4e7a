#!/usr/bin/env bash
# The main job: installs what is missing, builds Release, reproduces the paper's three
# settings (FC4 with BN and WD, Conv4 with BN without WD, FC4 without either) at three init
# scales on two Fashion-MNIST classes with the quick preset, and writes figures and
# REPORT.md. Extra arguments go to the `paper` program (e.g. --preset paper, --data
# cifar10:FOLDER, --out DIR); see `build/examples/paper --help`. out/paper must be new or
# empty: to run again, pass --resume (keep the finished runs) or --overwrite (start over).
set -euo pipefail
cd "$(dirname "$0")/.."

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

build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DRHONET_BUILD_EXAMPLES=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target paper
"$build/examples/paper" --out out/paper --fallback-lr-factor 0.1 "$@"
