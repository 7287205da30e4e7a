#!/usr/bin/env bash
# Installs the Debian packages rhonet needs, only those that are missing. Idempotent and
# quiet when everything is there. Uses sudo when not run as root.
#   install-deps.sh [--bench] [--fuzz]   --bench: also PyTorch, the baseline of bench/compare.py
#                                        --fuzz: also clang and libFuzzer (scripts/fuzz.sh)
set -euo pipefail

bench=0 fuzz=0
for arg in "$@"; do
  case "$arg" in
    --bench) bench=1 ;;
    --fuzz) fuzz=1 ;;
    *) echo "usage: $0 [--bench] [--fuzz]" >&2; exit 2 ;;
  esac
done

packages=(
  g++ cmake make                 # toolchain
  libxtensor-dev xtl-dev         # tensors
  libxtensor-blas-dev            # GEMM bridge (xt::blas)
  libopenblas-dev                # the BLAS behind it
  libboost-test-dev              # unit tests
  libbenchmark-dev               # microbenchmarks
  libcli11-dev                   # command lines of the examples
  nlohmann-json3-dev             # manifests and reports
  zlib1g-dev                     # .gz data files
  dataset-fashion-mnist          # the default real data set
  python3-matplotlib python3-numpy  # figures
  libopenmpi-dev openmpi-bin     # distributed sweeps (rhonet::mpi, mpirun paper; docs/distributed.md)
)
if [ "$bench" -eq 1 ]; then packages+=(python3-torch); fi  # bench/compare_pytorch.py
if [ "$fuzz" -eq 1 ]; then packages+=(clang libclang-rt-14-dev); fi  # libFuzzer harnesses

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "rhonet: installing missing packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
