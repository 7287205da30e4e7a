#!/usr/bin/env bash
# train_binary and its folders, at a tiny size (1 epoch on 64 samples): a second run into a
# finished --out is refused, --resume continues it (naming the checkpoint it resumes from),
# --overwrite replaces it and its checkpoints; a second writer on a checkpoint folder is
# refused naming the first one's pid; SIGTERM stops with exit 143, a checkpoint of the step it
# stopped at and a manifest that says "interrupted"; --override changes lr and epochs on
# resume, recorded, and a changed --lr without it is refused.
# Usage: train_binary_out_folder.sh TRAIN_BINARY WORK_DIR (77: no data).
set -uo pipefail
bin=$1
work=$2
. "$(dirname "$0")/support/e2e.sh"
needs_fashion_mnist train-images-idx3-ubyte
enter_fresh "$work"
tiny=(--epochs 1 --limit-train 64 --limit-test 32)

"$bin" "${tiny[@]}" --out run --checkpoint-dir ckpt >log1 2>&1 || fail "first run exited $?: $(cat log1)"
[ "$(json run/manifest.json 'm["program"], m["status"]')" = "('train_binary', 'finished')" ] || fail "$(cat run/manifest.json)"
"$bin" "${tiny[@]}" --out run --checkpoint-dir ckpt >log2 2>&1 && fail "a second run into a finished --out was accepted"
grep -qF "train_binary: --out 'run' holds an earlier run of train_binary" log2 || fail "$(cat log2)"
"$bin" "${tiny[@]}" --out run --checkpoint-dir ckpt --resume >log3 2>&1 || fail "--resume exited $?: $(cat log3)"
grep -qF "resuming from ckpt/ckpt-1" log3 || fail "resume message: $(cat log3)"
# A changed lr on resume: refused without --override, naming the field; with it, applied and
# recorded (summary.json "changes", the manifest's "overrides").
"$bin" "${tiny[@]}" --lr 0.02 --out run --checkpoint-dir ckpt --resume >log3b 2>&1 && fail "a changed --lr was accepted"
grep -qF "expected a checkpoint of a run with lr 0.02 (or a resume that overrides lr), found lr 0.01" log3b \
  || fail "lr mismatch message: $(cat log3b)"
"$bin" "${tiny[@]}" --out run --checkpoint-dir ckpt --resume --override lr=0.005 --override epochs=2 >log3c 2>&1 \
  || fail "--override exited $?: $(cat log3c)"
[ "$(json run/summary.json '[(c["field"], c["old"], c["new"], c["step"]) for c in m["changes"]]')" = \
  "[('lr', 0.01, 0.005, 1), ('epochs', 1, 2, 1)]" ] || fail "changes: $(json run/summary.json 'm["changes"]')"
[ "$(json run/manifest.json '[(o["key"], o["value"]) for o in m["overrides"]]')" = "[('lr', 0.005), ('epochs', 2.0)]" ] \
  || fail "manifest overrides: $(cat run/manifest.json)"
[ "$(json run/summary.json 'm["epochs_done"], m["config"]["lr"]')" = "(2, 0.005)" ] || fail "$(cat run/summary.json)"
"$bin" "${tiny[@]}" --out run --checkpoint-dir ckpt --overwrite >log4 2>&1 || fail "--overwrite exited $?: $(cat log4)"
[ -d ckpt/ckpt-1 ] || fail "no new checkpoint after --overwrite"

"$bin" --epochs 1000000 --limit-train 64 --limit-test 32 --out busy --checkpoint-dir busy-ckpt \
  --checkpoint-every 1000 >log5 2>&1 &
pid=$!
for _ in $(seq 600); do
  [ -f busy/manifest.json ] && break
  kill -0 $pid 2>/dev/null || { cat log5; fail "the long run ended early"; }
  sleep 0.1
done
"$bin" "${tiny[@]}" --out other --checkpoint-dir busy-ckpt >log6 2>&1 && fail "a second writer was accepted"
grep -qF "train_binary: --checkpoint-dir busy-ckpt is in use by another run (pid $pid, train_binary)" log6 \
  || fail "second writer: $(cat log6)"
kill -TERM $pid
wait $pid
rc=$?
cat log5
[ $rc -eq 143 ] || fail "SIGTERM: exit $rc, expected 143"
grep -qF "train_binary: interrupted by SIGTERM" log5 || fail "no interruption message"
[ "$(json busy/manifest.json 'm["status"]')" = interrupted ] || fail "$(cat busy/manifest.json)"
# SIGTERM saved the step it stopped at; --resume continues from there (here to a few more epochs).
last=$(ls busy-ckpt | grep -E '^ckpt-[0-9]+$' | sed 's/ckpt-//' | sort -n | tail -1)
[ -n "$last" ] && [ "$(json "busy-ckpt/ckpt-$last/manifest.json" '"in_epoch" in m["trainer"]')" = True ] \
  || fail "no checkpoint of the interrupted step in busy-ckpt: $(ls busy-ckpt)"
[ "$(json busy/summary.json 'm["interrupted"]')" = True ] || fail "summary.json after SIGTERM"
"$bin" --epochs 1000000 --limit-train 64 --limit-test 32 --out busy --checkpoint-dir busy-ckpt --checkpoint-every 1000 \
  --resume --override epochs=$((last + 2)) >log7 2>&1 || fail "resume after SIGTERM exited $?: $(cat log7)"
grep -qF "rhonet::train: resuming from busy-ckpt/ckpt-$last" log7 || fail "resume message: $(cat log7)"
[ "$(json busy/summary.json 'm["epochs_done"], m["finished"]')" = "($((last + 2)), True)" ] || fail "$(cat busy/summary.json)"
echo "train_binary folders: ownership, resume, overwrite, lock and SIGTERM as expected"
