#!/usr/bin/env bash
# train_binary with a learning rate that makes the loss explode must stop at once, exit 1 and
# say where (epoch, step, layer), and record the divergence in summary.json.
# Usage: train_binary_diverges.sh TRAIN_BINARY WORK_DIR. Exit 77 (skipped) without the data.
set -uo pipefail
bin=$1
work=$2
data_dir=${RHONET_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
[ -e "$data_dir/train-images-idx3-ubyte.gz" ] || [ -e "$data_dir/train-images-idx3-ubyte" ] || {
  echo "Fashion-MNIST not found in $data_dir: skipped"; exit 77; }
rm -rf "$work"
"$bin" --epochs 3 --lr 1e6 --out "$work/run" --checkpoint-dir "$work/ckpt" >"$work.log" 2>&1
rc=$?
cat "$work.log"
fail() { echo "FAIL: $*"; exit 1; }
[ $rc -eq 1 ] || fail "exit code $rc, expected 1"
grep -qE '^train_binary: training diverged at epoch 1, step [0-9]+: .*\(.*layer ?[0-9]+' "$work.log" \
  || fail "no message naming epoch, step and layer"
grep -q '"diverged": true' "$work/run/summary.json" || fail "summary.json does not record the divergence"
echo "train_binary diverged as expected"
