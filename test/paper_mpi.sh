#!/usr/bin/env bash
# `paper` under mpirun (docs/distributed.md), end to end at a tiny size, against one process:
#  - mpirun -np 2 and -np 3 --oversubscribe write the same run folders, observations and
#    verdicts as one process (up to timing fields), every rank trains, rank 0 alone writes
#    the manifest (each run names its rank) and the report;
#  - a folder in the way of one setting's runs: under mpirun those runs fail with their
#    error and the others finish (one process stops at its first failure); --resume then
#    trains the failed runs;
#  - a refused folder is said once, by rank 0, and every rank ends; --jobs is refused;
#  - SIGTERM to the ranks stops their runs with checkpoints, and rank 0 says where; SIGINT to
#    mpirun leaves a manifest that says "interrupted"; --resume under mpirun ends with the
#    numbers of an unbroken sweep.
# Usage: paper_mpi.sh PAPER_BINARY MPIEXEC WORK_DIR. Exit 77 (skipped) without the data.
# OpenMPI refuses to run as root unless OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM)=1 (ctest sets them).
set -uo pipefail
paper=$1
mpiexec=$2
work=$3
. "$(dirname "$0")/support/e2e.sh"
needs_fashion_mnist t10k-images-idx3-ubyte
enter_fresh "$work"

mpirun() { "$mpiexec" --oversubscribe "$@"; }
tiny=(--experiment plain,fc-wd --init 0.1,1,5 --epochs 1 --limit-train 64 --limit-test 32 --batch 32 --quiet)
runs="plain/init_0.1 plain/init_1 plain/init_5 fc-wd/init_0.1 fc-wd/init_1 fc-wd/init_5"

# same_runs A B [RUNS]: the run folders of A and B hold the same files and numbers (wall
# times aside); the report's prediction rows are the same.
same_runs() {
  local a=$1 b=$2 r
  for r in ${3:-$runs}; do
    same_run_folder "$a/$r" "$b/$r"
  done
  if [ -z "${3:-}" ]; then
    diff <(grep -E '^\| *P?[1-9] *\|' "$a/REPORT.md") <(grep -E '^\| *P?[1-9] *\|' "$b/REPORT.md") >/dev/null \
      || fail "the verdicts of $a/REPORT.md and $b/REPORT.md differ"
  fi
}

# 1. One process: the reference.
"$paper" "${tiny[@]}" --jobs 1 --threads 1 --out single >log1 2>&1
rc_single=$?
[ -s single/REPORT.md ] || fail "the single-process sweep wrote no report (exit $rc_single): $(cat log1)"
statuses='[r["status"] for r in m["runs"]]'

# 2. mpirun -np 2 and -np 3: the same results; every rank trained; rank 0 wrote the report.
for np in 2 3; do
  mpirun -np $np "$paper" "${tiny[@]}" --out np$np >log2_$np 2>&1
  rc=$?
  [ $rc -eq $rc_single ] || fail "mpirun -np $np exited $rc, one process $rc_single: $(cat log2_$np)"
  grep -qF "6 runs over $np ranks, one run per rank at a time" log2_$np || fail "no rank count: $(cat log2_$np)"
  [ "$(json np$np/manifest.json "$statuses")" = "$(json single/manifest.json "$statuses")" ] \
    || fail "-np $np: run statuses $(json np$np/manifest.json "$statuses")"
  [ "$(json np$np/manifest.json 'm["status"], m["report"], m["mpi"]["ranks"], m["machine"]["blas_threads"]')" = \
    "('finished', 'written', $np, 1)" ] || fail "-np $np manifest: $(cat np$np/manifest.json)"
  [ "$(json np$np/manifest.json 'sorted({r["rank"] for r in m["runs"]})')" = \
    "$(/usr/bin/python3 -c "print(list(range($np)))")" ] \
    || fail "-np $np: not every rank trained: ranks $(json np$np/manifest.json '[r["rank"] for r in m["runs"]]')"
  same_runs single np$np
  [ "$(find np$np/figures -name '*.png' | wc -l)" = "$(find single/figures -name '*.png' | wc -l)" ] \
    || fail "-np $np: other figures than one process"
  [ "$(grep -c '^report:' log2_$np)" = 1 ] || fail "-np $np: the report was announced $(grep -c '^report:' log2_$np) times"
done

# 3. A refused folder is said once (rank 0); every rank ends. --jobs is refused.
mpirun -np 3 "$paper" "${tiny[@]}" --out np2 >log3 2>&1 && fail "a second sweep into np2 was accepted"
[ "$(grep -c "holds an earlier run of paper" log3)" = 1 ] || fail "refusal under mpirun: $(cat log3)"
mpirun -np 2 "$paper" "${tiny[@]}" --jobs 2 --out jobs >log3b 2>&1 && fail "--jobs under mpirun was accepted"
[ "$(grep -c "paper: --jobs: under mpirun every rank trains one run at a time" log3b)" = 1 ] \
  || fail "--jobs under mpirun: $(cat log3b)"

# 4. A file where the plain setting's folder goes: its runs fail, with their error, on
#    whichever rank; the others finish. All six are trained again (no summaries kept).
cp -r np2 failing
rm -f failing/*/init_*/summary.json failing/REPORT.md
rm -rf failing/plain && echo "not a folder" >failing/plain
mpirun -np 3 "$paper" "${tiny[@]}" --out failing --resume >log4 2>&1 && fail "a sweep with failed runs exited 0"
grep -qF "paper: 3 of 6 runs failed (the others finished; --resume trains the failed ones again): plain init 0.1 (rank " \
  log4 || fail "failure message: $(cat log4)"
[ "$(json failing/manifest.json "m['status'], $statuses")" = \
  "('failed', ['failed', 'failed', 'failed', 'finished', 'finished', 'finished'])" ] \
  || fail "manifest after failures: $(cat failing/manifest.json)"
[ "$(json failing/manifest.json 'all("Not a directory" in r["error"] for r in m["runs"][:3])')" = True ] \
  || fail "the failed runs' errors: $(json failing/manifest.json '[r.get("error") for r in m["runs"]]')"
[ -e failing/REPORT.md ] && fail "a report was written for a sweep with failed runs"
same_runs single failing "fc-wd/init_0.1 fc-wd/init_1 fc-wd/init_5"
# One process stops at its first failure: no new run starts.
cp -r np2 failing1
rm -f failing1/*/init_*/summary.json
rm -rf failing1/plain && echo "not a folder" >failing1/plain
"$paper" "${tiny[@]}" --jobs 1 --threads 1 --out failing1 --resume >log4b 2>&1 && fail "one process with a failed run exited 0"
[ "$(json failing1/manifest.json "$statuses")" = "['failed', 'pending', 'pending', 'pending', 'pending', 'pending']" ] \
  || fail "one process after its first failure: $(json failing1/manifest.json "$statuses")"
# Once the file is gone, --resume trains the failed runs (and only those).
rm failing/plain
mpirun -np 2 "$paper" "${tiny[@]}" --out failing --resume >log5 2>&1
[ $? -eq $rc_single ] || fail "resume after the failures: $(cat log5)"
[ "$(grep -c "kept from the earlier run (finished)" log5)" = 3 ] || fail "resume kept: $(cat log5)"
same_runs single failing

# 5. Interrupted sweeps resume. Two runs, one on each rank: (a) SIGTERM to every rank, as a
#    batch system sends it: the runs stop with checkpoints, rank 0 records where and says
#    so; (b) Ctrl-C (SIGINT) to mpirun during the resume: mpirun passes SIGTERM on a second
#    later and kills the ranks a second after that (OpenMPI's default), so only what is
#    certain within that is asserted (the manifest says interrupted at once); then --resume
#    finishes with the numbers of an unbroken sweep.
mid=(--experiment plain --init 1,5 --epochs 40 --limit-train 1000 --limit-test 64 --batch 8 --quiet --no-report)
newest() {  # newest FOLDER: the highest n of FOLDER/ckpt-<n> with a manifest, or -1
  local best=-1 d n
  for d in "$1"/ckpt-*; do
    n=${d##*/ckpt-}
    [[ $n =~ ^[0-9]+$ ]] && [ -f "$d/manifest.json" ] && [ "$n" -gt "$best" ] && best=$n
  done
  echo $best
}
# wait_for_both PID: until both runs are going and one has a checkpoint past the first.
wait_for_both() {
  local after=$(($(newest mid/plain/init_1/ckpt) > $(newest mid/plain/init_5/ckpt) ? \
                 $(newest mid/plain/init_1/ckpt) : $(newest mid/plain/init_5/ckpt)))
  for _ in $(seq 1200); do
    [ -f mid/manifest.json ] && [ "$(grep -c '"status": "running"' mid/manifest.json)" = 3 ] &&
      { [ "$(newest mid/plain/init_1/ckpt)" -gt $after ] || [ "$(newest mid/plain/init_5/ckpt)" -gt $after ]; } &&
      return 0
    kill -0 "$1" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}
"$paper" "${mid[@]}" --jobs 2 --threads 1 --out unbroken >log6 2>&1 || fail "the unbroken sweep exited $?: $(cat log6)"
"$mpiexec" --oversubscribe -np 2 "$paper" "${mid[@]}" --out mid >log7 2>&1 &
pid=$!
wait_for_both $pid || fail "the two runs did not start: $(cat log7)"
kill -TERM $(pgrep -P $pid)  # the ranks, children of mpirun
wait $pid
rc=$?
[ $rc -ne 0 ] || fail "mpirun exited 0 after SIGTERM: $(cat log7)"
grep -qF "paper: interrupted by SIGTERM during plain init 1 and plain init 5; the runs that finished are kept in mid" \
  log7 || fail "interruption message: $(cat log7)"
[ "$(json mid/manifest.json "m['status'], $statuses, sorted(r['rank'] for r in m['runs'])")" = \
  "('interrupted', ['interrupted', 'interrupted'], [0, 1])" ] || fail "manifest after SIGTERM: $(cat mid/manifest.json)"
[ "$(json mid/manifest.json 'all(r["checkpoint"].startswith(r["folder"] + "/ckpt/ckpt-") for r in m["runs"])')" = True ] \
  || fail "the interrupted runs' checkpoints: $(cat mid/manifest.json)"
"$mpiexec" --oversubscribe -np 2 "$paper" "${mid[@]}" --out mid --resume >log8 2>&1 &
pid=$!
wait_for_both $pid || fail "the resumed runs did not start: $(cat log8)"
kill -INT $pid
wait $pid
[ $? -ne 0 ] || fail "mpirun exited 0 after SIGINT: $(cat log8)"
[ "$(grep -c "continues from its checkpoint" log8)" = 2 ] || fail "resume: $(cat log8)"
[ "$(json mid/manifest.json "m['status'], m['interrupted']['signal']")" = "('interrupted', 'SIGTERM')" ] \
  || fail "manifest after SIGINT to mpirun: $(cat mid/manifest.json)"
mpirun -np 3 "$paper" "${mid[@]}" --out mid --resume >log9 2>&1 || fail "--resume under mpirun exited $?: $(cat log9)"
[ "$(json mid/manifest.json "m['status'], $statuses")" = "('finished', ['finished', 'finished'])" ] \
  || fail "manifest after the last resume: $(cat mid/manifest.json)"
same_runs unbroken mid "plain/init_1 plain/init_5"

echo "paper under mpirun: -np 2 and -np 3 as one process, failed runs reported, refusals, signals and resume as expected"
