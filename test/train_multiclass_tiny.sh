#!/usr/bin/env bash
# End-to-end: examples/train_multiclass for one epoch on a tiny subset, with each loss (and
# augmentation once). It must train, print the confusion matrix, save the model with its
# preprocessing statistics, load it back with identical predictions and classify one image.
# Usage: train_multiclass_tiny.sh BINARY WORK_DIR. Exit 77 (skipped) without the data.
set -euo pipefail
bin=$1
work=$2
. "$(dirname "$0")/support/e2e.sh"
needs_fashion_mnist t10k-images-idx3-ubyte
rm -rf "$work"
for loss in ce square; do
  extra=()
  [ "$loss" = ce ] && extra=(--augment)
  log="$work/$loss.log"
  mkdir -p "$work"
  "$bin" --loss "$loss" --epochs 1 --limit-train 640 --val 128 --limit-test 200 --batch 32 \
    --out "$work/$loss" "${extra[@]}" > "$log" 2>&1 || { cat "$log"; fail "$loss: exit $?"; }
  grep -q '^epoch 1 .*validation accuracy' "$log" || fail "$loss: no epoch line"
  grep -q '^test accuracy' "$log" || fail "$loss: no test accuracy"
  [ "$(grep -cE '^ *(T-shirt/top|Trouser|Pullover|Dress|Coat|Sandal|Shirt|Sneaker|Bag|Ankle boot) ' "$log")" -eq 10 ] \
    || { cat "$log"; fail "$loss: the confusion matrix has not 10 rows"; }
  grep -q 'loaded back: test accuracy' "$log" || fail "$loss: no reload"
  grep -q '^test image 0 (true class .*): predicted ' "$log" || fail "$loss: no single-image prediction"
  [ -s "$work/$loss/model/manifest.json" ] || fail "$loss: no model/manifest.json"
  grep -q '"channel_stats"' "$work/$loss/model/manifest.json" || fail "$loss: the statistics are not saved"
done
echo "train_multiclass: both losses trained, evaluated, saved, reloaded and predicted"
