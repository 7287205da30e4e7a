#!/usr/bin/env bash
# Prints the OpenBLAS core type (a value for OPENBLAS_CORETYPE) that matches this CPU's
# features, or nothing when OpenBLAS's own choice cannot be worse than it (not x86-64, or
# no AVX). The rule is rhonet's (include/rhonet/core/blas_kernels.hpp); a test checks that
# both agree. Usage: export OPENBLAS_CORETYPE=$(bash scripts/blas-coretype.sh)
set -euo pipefail
case "$(uname -m)" in x86_64 | i?86) ;; *) exit 0 ;; esac
[ -r /proc/cpuinfo ] || exit 0
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
vendor=$(grep -m1 '^vendor_id' /proc/cpuinfo | cut -d: -f2 | tr -d ' \t')
has() {
  local f
  for f in "$@"; do [[ $flags == *" $f "* ]] || return 1; done
}
if has avx512f avx512cd avx512bw avx512dq avx512vl; then
  if has avx512_bf16; then echo Cooperlake; else echo SkylakeX; fi
elif has avx2 fma; then
  case $vendor in AuthenticAMD | HygonGenuine) echo Zen ;; *) echo Haswell ;; esac
elif has avx; then
  echo Sandybridge
fi
