#!/usr/bin/env bash
# train_binary with a learning rate that makes the loss explode must stop at once, exit 1 and
# say where (epoch, step, layer), and record the divergence in summary.json.
# Usage: train_binary_diverges.sh TRAIN_BINARY WORK_DIR. Exit 77 (skipped) without the data.
set -uo pipefail
bin=$1
work=$2
. "$(dirname "$0")/support/e2e.sh"
needs_fashion_mnist train-images-idx3-ubyte
rm -rf "$work"
"$bin" --epochs 3 --lr 1e6 --out "$work/run" --checkpoint-dir "$work/ckpt" >"$work.log" 2>&1
rc=$?
cat "$work.log"
[ $rc -eq 1 ] || fail "exit code $rc, expected 1"
grep -qE '^train_binary: training diverged at epoch 1, step [0-9]+: .*\(.*layer ?[0-9]+' "$work.log" \
  || fail "no message naming epoch, step and layer"
grep -q '"diverged": true' "$work/run/summary.json" || fail "summary.json does not record the divergence"
echo "train_binary diverged as expected"
