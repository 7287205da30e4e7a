#!/usr/bin/env bash
# The `paper` program and its output folder, end to end at a tiny size (one setting, one init,
# one epoch on 64 samples):
#  - an --out name with quotes, spaces, $(), backquotes and ; works, the report is made
#    without a shell, and nothing in the name is executed;
#  - a folder with an earlier run is refused without --resume / --overwrite; --resume keeps
#    finished runs and refuses other options; a folder paper did not write is refused even
#    with --overwrite; the report reads only the runs the manifest lists;
#  - a second paper on the same folder is refused at once, naming the first one's pid;
#  - a failing report step is an error (exit 1, a message);
#  - SIGINT stops a run with exit 130, a message, and a manifest that says "interrupted";
#  - every run checkpoints: an interrupted run resumes bit-identically (also after SIGTERM and
#    past a damaged newest checkpoint); --override lr=X on resume is applied and recorded.
# Usage: paper_out_folder.sh PAPER_BINARY WORK_DIR. Exit 77 (skipped) without the data.
set -uo pipefail
paper=$1
work=$2
. "$(dirname "$0")/support/e2e.sh"
needs_fashion_mnist t10k-images-idx3-ubyte
enter_fresh "$work"

tiny=(--experiment plain --init 1 --epochs 1 --limit-train 64 --limit-test 32 --batch 32 --threads 1 --quiet)

# 1. A hostile folder name: run, report, nothing executed.
name="bob's \"runs\" \$(touch PWNED1); touch PWNED2; \`touch PWNED3\` & touch PWNED4 |"
"$paper" "${tiny[@]}" --out "$name" >log1 2>&1
rc=$?
cat log1
[ $rc -eq 0 ] || fail "paper with a hostile --out exited $rc"
ls PWNED* >/dev/null 2>&1 && fail "a command in the folder name was executed: $(ls PWNED*)"
[ -s "$name/REPORT.md" ] || fail "no REPORT.md in the hostile folder"
grep -qF "report:  $work/$name/REPORT.md" log1 || fail "the printed report path is not the folder's"
[ "$(json "$name/manifest.json" 'm["status"], m["report"], [r["status"] for r in m["runs"]]')" = \
  "('finished', 'written', ['finished'])" ] || fail "manifest: $(cat "$name/manifest.json")"

# 1b. A name that closes a single-quoted shell word and substitutes a command.
name2="x'\$(touch PWNED5)'y"
"$paper" "${tiny[@]}" --out "$name2" >log1b 2>&1 || fail "paper with --out $name2 exited $?: $(cat log1b)"
[ -e PWNED5 ] && fail "a command in the folder name was executed"
[ -s "$name2/REPORT.md" ] || fail "no REPORT.md in $name2"

# 2. The same command again is refused (before loading data), naming what to do.
"$paper" "${tiny[@]}" --out "$name" >log2 2>&1 && fail "a second run into a finished folder was accepted"
grep -qF "paper: --out '$name' holds an earlier run of paper (started" log2 || fail "refusal message: $(cat log2)"
grep -qF "add --resume to continue it or --overwrite to replace it" log2 || fail "refusal message: $(cat log2)"

# 3. --resume with other options is refused, naming the field.
"$paper" "${tiny[@]}" --seed 2 --out "$name" --resume >log3 2>&1 && fail "--resume with another seed was accepted"
grep -qF "has other options: seed was 1, this command gives 2" log3 || fail "resume mismatch message: $(cat log3)"

# 4. --resume keeps the finished run; a stale folder the manifest does not list (another
#    sweep's leftovers) stays out of the report.
mkdir -p "$name/conv-bn-nowd/init_3"
cp "$name/plain/init_1/"* "$name/conv-bn-nowd/init_3/"
"$paper" "${tiny[@]}" --out "$name" --resume >log4 2>&1 || fail "--resume exited $?: $(cat log4)"
grep -qF "[plain, init 1] kept from the earlier run (finished)" log4 || fail "resume did not keep the run: $(cat log4)"
grep -q "conv-bn-nowd" "$name/REPORT.md" && fail "REPORT.md reads a folder the manifest does not list"

# 5. A folder paper did not write: refused, also with --overwrite, and left alone.
mkdir -p theirs && echo "my notes" >theirs/notes.txt
"$paper" "${tiny[@]}" --out theirs >log5 2>&1 && fail "a foreign folder was accepted"
grep -qF "paper: --out 'theirs' is not empty and holds no run of paper (it has notes.txt)" log5 || fail "$(cat log5)"
"$paper" "${tiny[@]}" --out theirs --overwrite >log5b 2>&1 && fail "--overwrite replaced a foreign folder"
[ "$(cat theirs/notes.txt)" = "my notes" ] || fail "the foreign folder was changed"

# 6. --overwrite replaces paper's own run.
"$paper" "${tiny[@]}" --out "$name" --overwrite --no-report >log6 2>&1 || fail "--overwrite exited $?: $(cat log6)"
[ -e "$name/conv-bn-nowd" ] && fail "--overwrite left the old folder's contents"
[ -e "$name/REPORT.md" ] && fail "--overwrite left the old REPORT.md"

# 6b. A report step that fails is an error: exit 1, a message, the manifest says so.
mkdir "$name/REPORT.md"  # a folder where report.py writes its file
"$paper" "${tiny[@]}" --out "$name" --resume >log6b 2>&1 && fail "a failed report step exited 0"
grep -qF "paper: the report step failed: /usr/bin/python3 " log6b || fail "report failure message: $(cat log6b)"
grep -qF "exited with status 1; the runs are complete in $name" log6b || fail "report failure message: $(cat log6b)"
[ "$(json "$name/manifest.json" 'm["report"]')" = failed ] || fail "manifest after a failed report"

# 7. Two writers, then SIGINT.
"$paper" --experiment plain --init 1 --epochs 1000000 --limit-train 64 --limit-test 32 --batch 64 --threads 1 \
  --quiet --no-report --out busy >log7 2>&1 &
pid=$!
for _ in $(seq 600); do
  [ -f busy/manifest.json ] && [ "$(json busy/manifest.json 'm["runs"][0]["status"]')" = running ] && break
  kill -0 $pid 2>/dev/null || { cat log7; fail "the long run ended early"; }
  sleep 0.1
done
[ "$(json busy/manifest.json 'm["runs"][0]["status"]')" = running ] || fail "the long run did not start"
start=$(date +%s)
"$paper" "${tiny[@]}" --out busy --resume >log8 2>&1 && fail "a second writer was accepted"
grep -qF "paper: --out busy is in use by another run (pid $pid, paper)" log8 || fail "second writer: $(cat log8)"
[ $(($(date +%s) - start)) -le 5 ] || fail "the second writer was not refused at once"
kill -INT $pid
wait $pid
rc=$?
cat log7
[ $rc -eq 130 ] || fail "SIGINT: exit $rc, expected 130"
grep -qF "paper: interrupted by SIGINT during plain init 1; the runs that finished are kept in busy" log7 \
  || fail "no interruption message"
[ "$(json busy/manifest.json 'm["status"], m["runs"][0]["status"], m["interrupted"]["signal"]')" = \
  "('interrupted', 'interrupted', 'SIGINT')" ] || fail "manifest after SIGINT: $(cat busy/manifest.json)"
[ -z "$(find busy -maxdepth 1 -name '*.tmp-*')" ] || fail "temporary files left: $(find busy -name '*.tmp-*')"
# The lock went with the process: the folder can be taken again (here: replaced).
"$paper" "${tiny[@]}" --out busy --overwrite --no-report >log9 2>&1 || fail "after SIGINT: $(cat log9)"
# 8. Checkpoints per run: SIGINT in the middle of a run saves the step it stopped at; --resume
#    continues it; SIGTERM during that resume, then a damaged newest checkpoint (set aside, the
#    previous one used); the run ends with the numbers of an unbroken sweep (wall time aside).
mid=(--experiment plain --init 1 --epochs 40 --limit-train 2000 --limit-test 64 --batch 8 --threads 1 --quiet
     --no-report)
newest() {  # newest FOLDER: the highest n of FOLDER/ckpt-<n> with a manifest, or -1
  local best=-1 d n
  for d in "$1"/ckpt-*; do
    n=${d##*/ckpt-}
    [[ $n =~ ^[0-9]+$ ]] && [ -f "$d/manifest.json" ] && [ "$n" -gt "$best" ] && best=$n
  done
  echo $best
}
# start_and_signal SIGNAL AFTER LOG ARGS...: runs paper, sends SIGNAL once the run has a
# checkpoint numbered AFTER or more, and returns paper's exit code.
start_and_signal() {
  local sig=$1 after=$2 log=$3
  shift 3
  "$paper" "$@" >"$log" 2>&1 &
  local p=$!
  for _ in $(seq 1200); do
    [ "$(newest mid/plain/init_1/ckpt)" -ge "$after" ] && break
    kill -0 $p 2>/dev/null || break
    sleep 0.05
  done
  kill -"$sig" $p 2>/dev/null
  wait $p
}
"$paper" "${mid[@]}" --out unbroken >log10 2>&1 || fail "the unbroken sweep exited $?: $(cat log10)"
start_and_signal INT 1 log11 "${mid[@]}" --out mid
rc=$?
[ $rc -eq 130 ] || fail "SIGINT during the run: exit $rc (expected 130): $(cat log11)"
grep -qF "each interrupted run has a checkpoint of the step it stopped at. To continue, run the same command with --resume." \
  log11 || fail "interruption message: $(cat log11)"
[ "$(json mid/manifest.json 'm["runs"][0]["status"], m["runs"][0]["checkpoint"].startswith("plain/init_1/ckpt/ckpt-")')" = \
  "('interrupted', True)" ] || fail "manifest after SIGINT: $(cat mid/manifest.json)"
first=$(newest mid/plain/init_1/ckpt)
[ "$(json "mid/plain/init_1/ckpt/ckpt-$first/manifest.json" '"in_epoch" in m["trainer"]')" = True ] \
  || fail "the checkpoint at SIGINT is not of the middle of an epoch"
[ "$(json mid/plain/init_1/summary.json 'm["interrupted"]')" = True ] || fail "summary.json after SIGINT"
start_and_signal TERM $((first + 2)) log12 "${mid[@]}" --out mid --resume
rc=$?
[ $rc -eq 143 ] || fail "SIGTERM during the resumed run: exit $rc (expected 143): $(cat log12)"
grep -qF "[plain, init 1] continues from its checkpoint" log12 || fail "resume message: $(cat log12)"
grep -qF "rhonet::train: resuming from mid/plain/init_1/ckpt/ckpt-$first" log12 || fail "resumed from: $(cat log12)"
second=$(newest mid/plain/init_1/ckpt)
[ "$second" -gt "$first" ] || fail "no newer checkpoint after the resume ($first, $second)"
# Damage the newest checkpoint's first tensor: the resume must take the one before.
tensor=$(ls "mid/plain/init_1/ckpt/ckpt-$second/"*.npy | head -1)
truncate -s -5 "$tensor"
"$paper" "${mid[@]}" --out mid --resume >log13 2>&1 || fail "the last resume exited $?: $(cat log13)"
grep -qF "rhonet::train: skipping the damaged checkpoint mid/plain/init_1/ckpt/ckpt-$second (renamed to ckpt-$second.corrupt-1)" \
  log13 || fail "no fallback message: $(cat log13)"
grep -qF "rhonet::train: resuming from mid/plain/init_1/ckpt/ckpt-" log13 || fail "resumed from: $(cat log13)"
[ -d "mid/plain/init_1/ckpt/ckpt-$second.corrupt-1" ] || fail "the damaged checkpoint was not kept aside"
[ -z "$(ls mid/plain/init_1/ckpt | grep -v corrupt)" ] || fail "checkpoints left after the run: $(ls mid/plain/init_1/ckpt)"
[ ! -e unbroken/plain/init_1/ckpt ] || fail "the unbroken run kept its checkpoints"
strip_seconds() {  # the CSV without its seconds column
  /usr/bin/python3 -c 'import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
k = rows[0].index("seconds")
print("\n".join(",".join(r[:k] + r[k + 1:]) for r in rows))' "$1"
}
[ "$(strip_seconds mid/plain/init_1/observations.csv)" = "$(strip_seconds unbroken/plain/init_1/observations.csv)" ] \
  || fail "observations.csv of the interrupted and resumed run differs from the unbroken one"
cmp -s mid/plain/init_1/margins.csv unbroken/plain/init_1/margins.csv || fail "margins.csv differs"
final='{k: v for k, v in m["final"].items() if k != "seconds"}'
[ "$(json mid/plain/init_1/summary.json "$final")" = "$(json unbroken/plain/init_1/summary.json "$final")" ] \
  || fail "summary.json's final numbers differ"
[ "$(json mid/manifest.json 'm["status"], m["runs"][0]["status"]')" = "('finished', 'finished')" ] \
  || fail "manifest after the last resume: $(cat mid/manifest.json)"

# 9. --override on resume: the interrupted run continues with the new lr and records the change.
rm -rf mid
start_and_signal INT 1 log14 "${mid[@]}" --out mid
[ $? -eq 130 ] || fail "SIGINT before the override: $(cat log14)"
"$paper" "${mid[@]}" --out mid --resume --override lr=0.02 >log15 2>&1 || fail "--override exited $?: $(cat log15)"
[ "$(json mid/plain/init_1/summary.json '[(c["field"], c["old"], c["new"]) for c in m["changes"]]')" = \
  "[('lr', 0.01, 0.02)]" ] || fail "summary.json changes: $(json mid/plain/init_1/summary.json 'm["changes"]')"
[ "$(json mid/manifest.json '[(o["key"], o["value"]) for o in m["overrides"]]')" = "[('lr', 0.02)]" ] \
  || fail "manifest overrides: $(cat mid/manifest.json)"
# Without the override the changed lr is refused, naming the field (a new interrupted run).
rm -rf mid
start_and_signal INT 1 log16 "${mid[@]}" --out mid
"$paper" "${mid[@]}" --lr 0.02 --out mid --resume >log17 2>&1 && fail "a changed --lr was accepted on resume"
grep -qF "has other options: settings was" log17 || fail "lr mismatch message: $(cat log17)"

echo "paper output folder: hostile name, ownership, resume, lock, signals, checkpoints and overrides as expected"
