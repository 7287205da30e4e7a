#!/usr/bin/env bash
# Compile-time budget: configures BUILD (default build-budget, Release, compile_commands.json),
# then times every translation unit of the compiled top floor, examples/ and bench/ alone (wall s, peak memory; budget
# <= 12 s and <= 1 GB) and profiles the slowest; and the `paper` program from scratch with two
# jobs (target <= 90 s). Writes out/compile-budget.md.
#   scripts/compile-budget.sh [BUILD [helper options]]   e.g. nice scripts/compile-budget.sh
#   (helper options of bench/compile_budget.py, e.g. --profiler gcc for g++ -ftime-report)
# Measures one TU at a time so the numbers are per TU, not shares of a parallel build.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${1:-build-budget}
common=(-DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DCMAKE_BUILD_TYPE=Release
        -DRHONET_BUILD_EXAMPLES=ON -DRHONET_BUILD_TESTS=OFF)
note=()
# The top-floor library: its generated units and its precompiled header (under the build tree).
lib_dirs=rhonet_compiled,CMakeFiles/rhonet_compiled_float.dir

# bench/ is measured when it can be configured (its CMakeLists may not exist yet, or
# Google Benchmark may be missing); the examples alone otherwise.
configure() { cmake -S . -B "$build" "${common[@]}" "$@" >"$build.configure.log" 2>&1; }
if [ -f bench/CMakeLists.txt ] && configure -DRHONET_BUILD_BENCH=ON; then
  dirs=$lib_dirs,examples,bench
else
  if [ -f bench/CMakeLists.txt ]; then
    tail -n 20 "$build.configure.log" >&2
    echo "compile-budget: configuring bench/ failed (above); measuring the examples only" >&2
    note+=(--note "bench/ could not be configured; examples only.")
  else
    note+=(--note "bench/CMakeLists.txt does not exist yet; examples only.")
  fi
  configure -DRHONET_BUILD_BENCH=OFF || { cat "$build.configure.log" >&2; exit 1; }
  dirs=$lib_dirs,examples
fi
rm -f "$build.configure.log"

# The paper program from scratch with two jobs, as a new user builds it (target <= 90 s wall):
# a fresh build directory, examples only, configured first and then timed.
scratch=$build-paper-from-scratch
rm -rf "$scratch"
cmake -S . -B "$scratch" -DCMAKE_BUILD_TYPE=Release -DRHONET_BUILD_EXAMPLES=ON -DRHONET_BUILD_TESTS=OFF \
  -DRHONET_BUILD_BENCH=OFF >/dev/null
if /usr/bin/time -f "%e %U %S" -o "$scratch.time" cmake --build "$scratch" -j 2 --target paper >/dev/null 2>&1; then
  read -r wall user sys <"$scratch.time"
  note+=(--note "\`paper\` from scratch (\`cmake --build -j 2 --target paper\`, fresh build directory): $wall s wall, $(python3 -c "print(round($user + $sys, 1))") s CPU (target <= 90 s wall).")
else
  note+=(--note "\`paper\` from scratch: the build failed.")
fi
rm -rf "$scratch" "$scratch.time"

exec python3 bench/compile_budget.py "$build" --dirs "$dirs" --out out/compile-budget.md \
  "${note[@]}" "${@:2}"
