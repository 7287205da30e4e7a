#!/usr/bin/env bash
# Builds the libFuzzer harnesses of fuzz/ (clang, AddressSanitizer + UndefinedBehaviorSanitizer),
# makes their seed corpora (small valid files) and runs each in turn, one at a time:
#   bash scripts/fuzz.sh [seconds-per-harness] [harness ...]    (default 60 s, all harnesses)
#   bash scripts/fuzz.sh --runs N [--seconds S] [harness ...]   N executions each (and at most S s)
#   bash scripts/fuzz.sh --total N [--seconds S] [harness ...]  until each has N executions in all
# Every run continues from the kept corpus and adds its executions to the harness's tally
# (executions/<harness>); --total runs only what is missing, so an interrupted campaign
# resumes where it stopped. Work folder: $FUZZ_DIR (default build-fuzz/): bin/, seeds/, corpus/
# (kept between runs), executions/, artifacts/ (inputs that crashed, leaked, hung or ran out of
# memory) and logs/. Prints executions (this run and in all), executions per second and findings
# per harness; exits 1 on a finding. Turn a finding into a regression test: see docs/reliability.md.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: bash scripts/fuzz.sh [SECONDS | --runs N | --total N] [--seconds S] [harness ...]" >&2; exit 2; }
seconds="" runs="" total=""
number() { [[ "${2:-}" =~ ^[0-9]+$ && "$2" -gt 0 ]] || { echo "$1: expected a whole number > 0, got '${2:-}'" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) number "$1" "${2:-}"; runs=$2; shift 2 ;;
    --total) number "$1" "${2:-}"; total=$2; shift 2 ;;
    --seconds) number "$1" "${2:-}"; seconds=$2; shift 2 ;;
    --help|-h) usage ;;
    -*) usage ;;
    *) if [[ "$1" =~ ^[0-9]+$ ]] && [ -z "$seconds$runs$total" ]; then seconds=$1; shift; else break; fi ;;
  esac
done
[ -z "$runs" ] || [ -z "$total" ] || { echo "--runs and --total: give one of them" >&2; exit 2; }
[ -n "$seconds$runs$total" ] || seconds=60
all=(idx_plain idx_gz cifar10 npy_header checkpoint cli)
harnesses=("${@:-${all[@]}}")
[ ${#harnesses[@]} -gt 0 ] || harnesses=("${all[@]}")
work=${FUZZ_DIR:-build-fuzz}

# The project's packages, plus clang and the libFuzzer runtime (Debian 12: clang 14).
bash scripts/install-deps.sh --fuzz

mkdir -p "$work"/{bin,seeds,corpus,artifacts,logs,executions}
cxxflags=(-std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
          -fno-omit-frame-pointer -Iinclude -Iexamples)
for h in "${harnesses[@]}"; do
  [ -f "fuzz/$h.cpp" ] || { echo "no harness fuzz/$h.cpp" >&2; exit 2; }
  if [ ! "$work/bin/$h" -nt "fuzz/$h.cpp" ] || [ -n "$(find include examples -newer "$work/bin/$h" \( -name '*.hpp' -o -name '*_cli.cpp' \) | head -1)" ]; then
    echo "building $h"
    libs=(-lz)
    [ "$h" = checkpoint ] && libs+=(-lopenblas)
    sources=("fuzz/$h.cpp")  # the cli harness drives the programs' command-line units
    [ "$h" = cli ] && sources+=(examples/paper/paper_cli.cpp examples/train_binary_cli.cpp)
    nice -n 10 clang++ "${cxxflags[@]}" "${sources[@]}" -o "$work/bin/$h" "${libs[@]}"
  fi
done

# Seed corpora: small valid files of each format.
/usr/bin/python3 - "$work/seeds" <<'PY'
import gzip, os, struct, sys
root = sys.argv[1]
def put(d, name, data):
    os.makedirs(os.path.join(root, d), exist_ok=True)
    with open(os.path.join(root, d, name), "wb") as f:
        f.write(data)
images = lambda n, r, c: struct.pack(">IIII", 2051, n, r, c) + bytes((i * 37) % 256 for i in range(n * r * c))
labels = lambda ls: struct.pack(">II", 2049, len(ls)) + bytes(ls)
idx = {"images-3x2x2": images(3, 2, 2), "images-1x28x28": images(1, 28, 28), "images-0": images(0, 4, 4),
       "labels-5": labels([0, 9, 3, 3, 1]), "labels-0": labels([])}
for name, data in idx.items():
    put("idx_plain", name, data)
    put("idx_gz", name + ".gz", gzip.compress(data, mtime=0))
put("idx_gz", "two-members.gz", gzip.compress(idx["labels-5"][:6], mtime=0) + gzip.compress(idx["labels-5"][6:], mtime=0))
record = lambda label: bytes([label]) + bytes((label * 7 + i) % 256 for i in range(3072))
put("cifar10", "one.bin", record(3))
put("cifar10", "three.bin", record(0) + record(9) + record(5))
put("cifar10", "two.bin.gz", gzip.compress(record(1) + record(2), mtime=0))
def npy(descr, shape, nbytes, version=1):
    d = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    prefix = 10 if version == 1 else 12
    pad = (prefix + len(d) + 1 + 63) // 64 * 64
    d += " " * (pad - prefix - len(d) - 1) + "\n"
    size = struct.pack("<H", len(d)) if version == 1 else struct.pack("<I", len(d))
    return b"\x93NUMPY" + bytes([version, 0]) + size + d.encode() + bytes(nbytes)
put("npy_header", "f4-5x6.npy", npy("<f4", "(5, 6)", 120))
put("npy_header", "f8-vector.npy", npy("<f8", "(3,)", 24))
put("npy_header", "f4-scalar.npy", npy("<f4", "()", 4))
put("npy_header", "v2-f4-4d.npy", npy("<f4", "(2, 3, 3, 3)", 216, version=2))
# Command lines: first byte odd = paper, even = train_binary; arguments separated by NUL.
cmd = lambda program, *args: bytes([1 if program == "paper" else 0]) + b"\0".join(a.encode() for a in args)
put("cli", "paper-default", cmd("paper", "--quiet"))
put("cli", "paper-custom", cmd("paper", "--experiment", "custom,plain", "--arch", "fc4", "--bn", "off", "--wd",
                               "0.01", "--init", "0.1,1e-1,5", "--classes", "3,5", "--seed", "18446744073709551615"))
put("cli", "paper-numbers", cmd("paper", "--lr", "0.05", "--momentum", "0", "--epochs", "3", "--batch", "64",
                                "--limit-train=256", "--fallback-lr-factor", "0.1", "--out", "o", "--resume",
                                "--seeds", "3"))
put("cli", "train-binary", cmd("train_binary", "--epochs", "2", "--class-a", "0", "--class-b", "9", "--lr", "1e-2",
                               "--checkpoint-dir", "c", "--checkpoint-every", "2", "--keep-checkpoints", "0",
                               "--resume"))
put("cli", "train-binary-bad", cmd("train_binary", "--epochs", "-1", "--wd", "nan"))
put("cli", "paper-classes", cmd("paper", "--classes", "all", "--experiment", "fc-bn-wd,flow-bn-wd", "--outputs", "10"))
put("cli", "paper-three-classes", cmd("paper", "--classes", "7,2,5", "--outputs", "3"))
# Valid command lines among the inputs fuzz/cli.cpp also parses fresh (FNV-1a of the bytes after
# the first is 0 mod 16), so every run starts by checking the reused parsers' reset.
def sampled(program, *args):
    for n in range(1, 1000):
        data = cmd(program, *args, "--limit-test", str(n))
        h = 2166136261
        for c in data[1:]:
            h = ((h ^ c) * 16777619) & 0xffffffff
        if h % 16 == 0:
            return data
put("cli", "paper-reuse-check", sampled("paper", "--quiet"))
put("cli", "train-binary-reuse-check", sampled("train_binary", "--epochs", "2"))
PY
RHONET_FUZZ_SEEDS="$work/seeds/checkpoint" "$work/bin/checkpoint" >/dev/null 2>&1 || true

# Input sizes: a CIFAR-10 record is 3073 bytes; a checkpoint input is a manifest (about 2.5
# KiB) and one small npy file; IDX headers are 8 or 16 bytes. 1 s per input counts as a hang.
declare -A max_len=([idx_plain]=4096 [idx_gz]=4096 [cifar10]=16384 [npy_header]=1024 [checkpoint]=4096 [cli]=512)
tally() { cat "$work/executions/$1" 2>/dev/null || echo 0; }
interrupted=false
trap 'interrupted=true' INT TERM
status=0
printf '%-11s %14s %14s %10s %9s\n' harness executions "in all" execs/s findings
for h in "${harnesses[@]}"; do
  limits=()
  if [ -n "$total" ]; then
    left=$((total - $(tally "$h")))
    if [ $left -le 0 ]; then
      printf '%-11s %14s %14s %10s %9s\n' "$h" 0 "$(tally "$h")" - "(done)"
      continue
    fi
    limits+=(-runs="$left")
  fi
  [ -z "$runs" ] || limits+=(-runs="$runs")
  [ -z "$seconds" ] || limits+=(-max_total_time="$seconds")
  mkdir -p "$work/corpus/$h" "$work/artifacts/$h"
  before=$(find "$work/artifacts/$h" -type f | wc -l)
  log="$work/logs/$h.log"
  set +e
  # One BLAS thread: the checkpoint harness's network needs no more.
  OPENBLAS_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
    nice -n 10 "$work/bin/$h" "$work/corpus/$h" "$work/seeds/$h" "${limits[@]}" \
    -max_len="${max_len[$h]}" -timeout=1 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/$h/" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(awk '/stat::number_of_executed_units:/ {print $2}' "$log")
  rate=$(awk '/stat::average_exec_per_sec:/ {print $2}' "$log")
  [ -z "$execs" ] || echo $(($(tally "$h") + execs)) >"$work/executions/$h"
  after=$(find "$work/artifacts/$h" -type f | wc -l)
  findings=$((after - before))
  $interrupted && [ $findings -eq 0 ] && findings="stopped"
  [ $rc -eq 0 ] || [ "$findings" != 0 ] || findings="rc $rc"
  printf '%-11s %14s %14s %10s %9s\n' "$h" "${execs:-?}" "$(tally "$h")" "${rate:-?}" "$findings"
  if [ "$findings" = stopped ]; then
    exit 130
  elif [ "$findings" != 0 ]; then
    status=1
    echo "  see $log and $work/artifacts/$h/"
  fi
done
exit $status
