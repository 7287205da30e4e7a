#!/usr/bin/env bash
# The command lines of `paper` and `train_binary` against a table of bad (and a few good)
# option values: each must end at option parsing, before any data is read or any folder is
# made, with the exit code and the first line of stderr the table gives.
# Usage: cli_cases.sh PAPER_BINARY TRAIN_BINARY_BINARY WORK_DIR
set -uo pipefail
paper=$1
train_binary=$2
work=$3
rm -rf "$work"
mkdir -p "$work"
cd "$work" || exit 1
# Were the data read, the error would name this folder; none of these cases may get there.
export RHONET_FASHION_MNIST="$work/no-data-here"

failures=0
total=0
allow=
# expect CODE 'HEAD' PROGRAM ARGS...: exit code CODE, stderr's first line starting with HEAD.
expect() {
  local code=$1 head=$2 program=$3
  shift 3
  local bin
  case $program in paper) bin=$paper ;; train_binary) bin=$train_binary ;; esac
  total=$((total + 1))
  "$bin" "$@" >"$work/stdout" 2>"$work/stderr"
  local rc=$?
  local first
  # rhonet's warning about slow OpenBLAS kernels (an OPENBLAS_CORETYPE below the CPU's) may
  # come first; it is not the answer to the command line.
  first=$(grep -v '^rhonet: OpenBLAS runs its' "$work/stderr" | head -1)
  local shown
  shown=$(printf '%q ' "$@")
  if [ "$rc" -ne "$code" ] || [ "${first:0:${#head}}" != "$head" ]; then
    echo "FAIL: $program $shown"
    echo "      exit $rc (expected $code), stderr: $first"
    echo "      expected stderr to start with: $head"
    failures=$((failures + 1))
  else
    printf '| `%s %s` | %d | `%s` |\n' "$program" "${shown% }" "$rc" "$first"
  fi
  local keep="stdout|stderr${allow:+|$allow}"
  if [ -n "$(ls -A "$work" | grep -vxE "$keep")" ]; then
    echo "FAIL: $program $shown created: $(ls -A "$work" | grep -vxE "$keep" | tr '\n' ' ')"
    failures=$((failures + 1))
    find "$work" -mindepth 1 -maxdepth 1 ! -name stdout ! -name stderr ! -name "${allow:-stdout}" -exec rm -rf {} +
  fi
}

W="a whole number from"
echo "| command | exit | first line of stderr |"
echo "|---|---|---|"
# Finding 6: numbers that wrapped or were silently replaced.
expect 2 "paper: --epochs: expected $W 1 to 1000000, got '-1'" paper --epochs -1
expect 2 "train_binary: --epochs: expected $W 1 to 1000000, got '-1'" train_binary --epochs -1
expect 2 "paper: --batch: expected $W 1 to 1048576, got '-1'" paper --batch -1
expect 2 "paper: --seed: expected $W 0 to 18446744073709551615, got '-5'" paper --seed -5
expect 2 "paper: --seed: expected $W 0 to 18446744073709551615, got '18446744073709551616'" paper --seed 18446744073709551616
expect 2 "paper: --seeds: expected $W 1 to 1000, got '0'" paper --seeds 0
expect 2 "paper: --seeds: expected $W 1 to 1000, got '1001'" paper --seeds 1001
expect 2 "paper: --seeds: expected $W 1 to 1000, got '2.5'" paper --seeds 2.5
expect 2 "paper: --seeds: 2 seeds from --seed 18446744073709551615 run past the largest seed, 18446744073709551615" paper --seed 18446744073709551615 --seeds 2
expect 2 "paper: --epochs: expected $W 1 to 1000000, got '18446744073709551616'" paper --epochs 18446744073709551616
expect 2 "paper: --lr: expected a finite number > 0, got '0'" paper --lr 0
expect 2 "paper: --lr: expected a finite number > 0, got '-1'" paper --lr -1
expect 2 "paper: --lr: expected a finite number > 0, got 'nan'" paper --lr nan
expect 2 "paper: --lr: expected a finite number > 0, got 'inf'" paper --lr inf
expect 2 "paper: --lr: expected a finite number > 0, got '1e999'" paper --lr 1e999
expect 2 "paper: --momentum: expected a number in [0, 1), got '-0.5'" paper --momentum -0.5
expect 2 "paper: --momentum: expected a number in [0, 1), got 'nan'" paper --momentum nan
expect 2 "paper: --momentum: expected a number in [0, 1), got '1'" paper --momentum 1
expect 2 "paper: --wd: expected a finite number >= 0, got '-1'" paper --wd -1
expect 2 "paper: --epochs: expected $W 1 to 1000000, got '0'" paper --epochs 0
expect 2 "paper: --batch: expected $W 1 to 1048576, got '0'" paper --batch 0
expect 2 "paper: --classes: expected two or more different class ids from 0 to 9, comma-separated (or all), got 'a,b'" paper --classes a,b
expect 2 "paper: --classes: expected two or more different class ids from 0 to 9, comma-separated (or all), got '0x2,4'" paper --classes 0x2,4
expect 2 "paper: --classes: expected two or more different class ids from 0 to 9, comma-separated (or all), got '2.5,4'" paper --classes 2.5,4
expect 2 "paper: --classes: expected two or more different class ids from 0 to 9, comma-separated (or all), got '1abc,4'" paper --classes 1abc,4
expect 2 "paper: --classes: class 2 is given twice in '2,2'" paper --classes 2,2
expect 2 "paper: --classes: class 4 is given twice in '2,4,6,4'" paper --classes 2,4,6,4
expect 2 "paper: --classes: expected two or more different class ids from 0 to 9, comma-separated (or all), got '3'" paper --classes 3
expect 2 "paper: --classes: expected two or more different class ids from 0 to 9, comma-separated (or all), got '3,10'" paper --classes 3,10
expect 2 "paper: --classes: expected a comma-separated list of class ids, got an empty item in '3,,4'" paper --classes 3,,4
expect 2 "paper: --classes: 3 classes need networks with 3 outputs; this build has networks with 1, 2, 10 outputs (the network types are compiled ahead): configure with -DRHONET_PAPER_OUTPUTS=\"1;2;10;3\" and build again" paper --classes 2,4,6
expect 2 "paper: --outputs: 10 classes take one output per class (10), got 2" paper --classes all --outputs 2
expect 2 "paper: --init: expected a finite number > 0 for each item, got 'abc'" paper --init abc
expect 2 "paper: --init: expected a finite number > 0 for each item, got '0x2'" paper --init 0x2
expect 2 "paper: --init: expected a finite number > 0 for each item, got '1abc'" paper --init 1abc
expect 2 "paper: --init: expected a finite number > 0 for each item, got '0'" paper --init 0.1,0
expect 2 "paper: --init: expected a finite number > 0 for each item, got 'inf'" paper --init inf
expect 2 "paper: --epochs: expected $W 1 to 1000000, got '0x2'" paper --epochs 0x2
expect 2 "paper: --epochs: expected $W 1 to 1000000, got '2.5'" paper --epochs 2.5
expect 2 "paper: --epochs: expected $W 1 to 1000000, got '1abc'" paper --epochs 1abc
expect 2 "paper: --epochs: expected $W 1 to 1000000, got ' 3'" paper --epochs " 3"
expect 2 "paper: --init: expected a finite number > 0 for each item, got '1/../../x'" paper --init "1/../../x"
expect 2 "paper: --arch: only the custom setting uses it" paper --experiment plain --bn on --arch conv4
expect 2 "paper: --bn: only the custom setting uses it" paper --experiment plain --bn on
expect 2 "paper: --init: '1' is given twice" paper --init 1,1
expect 2 "paper: --init: '1' and '1.0' are the same value" paper --init 1,1.0
expect 2 "paper: --init: expected a comma-separated list of numbers, got an empty item in '1,,2'" paper --init 1,,2
expect 2 "paper: --experiment: 'plain' is given twice in 'plain,plain'" paper --experiment plain,plain
expect 2 "paper: --experiment: expected one or more of fc-bn-wd, fc-bn-nowd, fc-bn-nowd-momentum, fc-wd, fc-wn-wd, plain, conv-bn-nowd, flow-bn-wd, flow-wn-wd, custom, got 'resnet'" paper --experiment resnet
expect 2 "paper: --momentum: the setting flow-bn-wd follows gradient flow: full batch, momentum 0; leave the flag out or name the settings with --experiment, without the flow ones" paper --momentum 0.5
expect 2 "paper: --batch: the setting flow-wn-wd follows gradient flow: full batch, momentum 0; leave the flag out or name the settings with --experiment, without the flow ones" paper --experiment plain,flow-wn-wd --batch 64
expect 2 "paper: --experiment: the custom setting needs --arch, --bn and --wd" paper --experiment custom --arch fc4
expect 2 "paper: --epochs: replaces the epochs of --preset paper" paper --preset paper --epochs 5
expect 2 "paper: --data: expected fashion-mnist or cifar10:FOLDER, got 'cifar10:'" paper --data cifar10:
expect 2 "paper: --outputs: two classes take 1 (labels +-1) or 2 (one-hot) outputs, got 3" paper --outputs 3
expect 2 "paper: --outputs: expected $W 1 to 10, got '11'" paper --outputs 11
expect 2 "paper: --threads: expected $W 1 to 1024, got '0'" paper --threads 0
expect 2 "paper: --jobs: expected $W 1 to 1024, got '0'" paper --jobs 0
expect 2 "paper: --limit-train: expected $W 1 to 1000000000, got '0'" paper --limit-train 0
expect 2 "paper: --fallback-lr-factor: expected a number in (0, 1), got '1'" paper --fallback-lr-factor 1
expect 2 "paper: --epochs: At Most 1 required but received 2" paper --epochs 3 --epochs 4
expect 2 "paper: --overwrite excludes --resume" paper --overwrite --resume
expect 2 "paper: The following argument was not expected: --frobnicate" paper --frobnicate
# Finding 8.
expect 2 "paper: --out: expected a folder name, got an empty string" paper --out ""
expect 2 "train_binary: --out: expected a folder name, got an empty string" train_binary --out ""
expect 2 "train_binary: --checkpoint-every: expected $W 1 to 1000000, got '0'" train_binary --checkpoint-dir c --checkpoint-every 0
expect 2 "train_binary: --checkpoint-every requires --checkpoint-dir" train_binary --checkpoint-every 2
expect 2 "train_binary: --resume requires --checkpoint-dir" train_binary --resume
expect 2 "train_binary: --keep-checkpoints requires --checkpoint-dir" train_binary --keep-checkpoints 3
expect 2 "train_binary: --checkpoint-dir: expected a folder name, got an empty string" train_binary --checkpoint-dir ""
# train_binary's own numbers.
expect 2 "train_binary: --epochs: expected $W 1 to 1000000, got '0'" train_binary --epochs 0
expect 2 "train_binary: --lr: expected a finite number > 0, got 'nan'" train_binary --lr nan
expect 2 "train_binary: --wd: expected a finite number >= 0, got '-1'" train_binary --wd -1
expect 2 "train_binary: --init: expected a finite number > 0, got 'abc'" train_binary --init abc
expect 2 "train_binary: --class-a: expected $W 0 to 9, got '10'" train_binary --class-a 10
expect 2 "train_binary: --class-a: expected $W 0 to 9, got '-1'" train_binary --class-a -1
expect 2 "train_binary: --class-b: expected a class other than --class-a 3, got '3'" train_binary --class-a 3 --class-b 3
expect 2 "train_binary: --limit-test: expected $W 1 to 1000000000, got '0'" train_binary --limit-test 0
expect 2 "train_binary: --resume excludes --overwrite" train_binary --checkpoint-dir c --resume --overwrite
# --override KEY=VALUE: only on resume, known keys with valid values, never what defines a run.
expect 2 "paper: --override requires --resume" paper --override lr=0.1
expect 2 "train_binary: --override requires --resume" train_binary --checkpoint-dir c --override wd=0
expect 2 "paper: --override: seed cannot change when a run resumes (it fixes the initialisation and the order of the batches); start a new run in another --out instead" paper --resume --override seed=3
expect 2 "train_binary: --override: batch cannot change when a run resumes" train_binary --checkpoint-dir c --resume --override batch=3
expect 2 "paper: --override: classes cannot change when a run resumes (it defines the data the run trains on)" paper --resume --override classes=1,2
expect 2 "paper: --override: expected KEY=VALUE with KEY one of lr, momentum, wd, epochs, got 'foo=1'" paper --resume --override foo=1
expect 2 "paper: --override: expected KEY=VALUE with KEY one of lr, momentum, wd, epochs, got 'lr'" paper --resume --override lr
expect 2 "paper: --override: lr: expected a finite number > 0, got '-1'" paper --resume --override lr=-1
expect 2 "paper: --override: lr: expected a finite number > 0, got 'nan'" paper --resume --override lr=nan
expect 2 "paper: --override: momentum: expected a number in [0, 1), got '1'" paper --resume --override momentum=1
expect 2 "train_binary: --override: wd: expected a finite number >= 0, got '-0.1'" train_binary --checkpoint-dir c --resume --override wd=-0.1
expect 2 "train_binary: --override: epochs: expected $W 1 to 1000000, got '0'" train_binary --checkpoint-dir c --resume --override epochs=0
expect 2 "paper: --override: lr is given twice" paper --resume --override lr=0.1 --override lr=0.2
# Valid command lines get past the option layer: to the data (absent here), exit 1, no folder
# left but the output folder itself (locked, empty).
allow=o1
expect 1 "paper: $work/no-data-here/t10k-images-idx3-ubyte.gz" paper --out o1 --init 1e-1,2.5 --seed 18446744073709551615 --epochs 1
expect 1 "paper: $work/no-data-here/t10k-images-idx3-ubyte.gz" paper --out o1 --init 1e+0,.5 --epochs 1
[ -z "$(ls -A o1 | grep -vx .lock)" ] || { echo "FAIL: o1 holds $(ls -A o1)"; failures=$((failures + 1)); }
rm -rf o1
allow=o2
expect 1 "train_binary: $work/no-data-here/t10k-images-idx3-ubyte.gz" train_binary --out o2 --epochs 1
rm -rf o2
allow=o3
expect 1 "paper: $work/no-data-here/t10k-images-idx3-ubyte.gz" paper --out o3 --resume --override lr=0.05 --override epochs=7
allow=
rm -rf o1 o2 o3
# --help is not an error.
"$paper" --help >"$work/stdout" 2>&1 && grep -q -- "--overwrite" "$work/stdout" || { echo "FAIL: paper --help"; failures=$((failures + 1)); }
"$train_binary" --help >"$work/stdout" 2>&1 && grep -q -- "--checkpoint-every" "$work/stdout" || { echo "FAIL: train_binary --help"; failures=$((failures + 1)); }

echo "$((total - failures)) of $total cases as expected"
[ "$failures" -eq 0 ]
