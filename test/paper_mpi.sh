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
#    numbers of an unbroken sweep;
#  - SIGINT to mpirun while a rank with no run left waits for the others: rank 0 still records
#    every run's checkpoint (mpirun kills all ranks as soon as one ends, so no rank may end
#    before rank 0); SIGTERM to one rank alone stops the whole sweep, recorded.
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
#    The runs are long enough (about 3 s each here) to be still going when the SIGTERM comes.
mid=(--experiment plain --init 1,5 --epochs 200 --limit-train 1000 --limit-test 64 --batch 8 --quiet --no-report)
newest() {  # newest FOLDER: the highest n of FOLDER/ckpt-<n> with a manifest, or -1
  local best=-1 d n
  for d in "$1"/ckpt-*; do
    n=${d##*/ckpt-}
    [[ $n =~ ^[0-9]+$ ]] && [ -f "$d/manifest.json" ] && [ "$n" -gt "$best" ] && best=$n
  done
  echo $best
}
# wait_for_both PID [FOLDER]: until both runs of FOLDER (default mid) are going and one has a
# checkpoint past the first.
wait_for_both() {
  local f=${2:-mid}
  local after=$(($(newest $f/plain/init_1/ckpt) > $(newest $f/plain/init_5/ckpt) ? \
                 $(newest $f/plain/init_1/ckpt) : $(newest $f/plain/init_5/ckpt)))
  for _ in $(seq 1200); do
    [ -f $f/manifest.json ] && [ "$(grep -c '"status": "running"' $f/manifest.json)" = 3 ] &&
      { [ "$(newest $f/plain/init_1/ckpt)" -gt $after ] || [ "$(newest $f/plain/init_5/ckpt)" -gt $after ]; } &&
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

# 6. Two runs on four ranks: at least one rank other than 0 has no run and waits in
#    MPI_Finalize. SIGINT to mpirun: that rank must not die of the SIGTERM before rank 0 has
#    recorded both runs' checkpoints (mpirun would kill rank 0 at once; when that rank ended
#    first, rank 0 recorded no checkpoint in 6 of 6 tries).
long=(--experiment plain --init 1,5 --epochs 4000 --limit-train 1000 --limit-test 64 --batch 8 --quiet --no-report)
checkpoints='all(r["checkpoint"].startswith(r["folder"] + "/ckpt/ckpt-") for r in m["runs"] if "checkpoint" in r), sum("checkpoint" in r for r in m["runs"])'
"$mpiexec" --oversubscribe -np 4 "$paper" "${long[@]}" --out idle >log10 2>&1 &
pid=$!
wait_for_both $pid idle || fail "the two runs on four ranks did not start: $(cat log10)"
kill -INT $pid
wait $pid
[ $? -ne 0 ] || fail "mpirun -np 4 exited 0 after SIGINT: $(cat log10)"
[ "$(json idle/manifest.json "m['status'], $statuses, m['interrupted']['signal']")" = \
  "('interrupted', ['interrupted', 'interrupted'], 'SIGTERM')" ] || fail "manifest after SIGINT with an idle rank: $(cat idle/manifest.json)"
[ "$(json idle/manifest.json "$checkpoints")" = "(True, 2)" ] \
  || fail "rank 0 did not record both checkpoints with an idle rank: $(cat idle/manifest.json) $(cat log10)"

# 7. SIGTERM to rank 1 alone (a kill of one process): the whole sweep stops, recorded.
"$mpiexec" --oversubscribe -np 2 "$paper" "${long[@]}" --out lone >log11 2>&1 &
pid=$!
wait_for_both $pid lone || fail "the two runs of the lone-signal sweep did not start: $(cat log11)"
rank1=
for c in $(pgrep -P $pid); do
  [ "$(tr '\0' '\n' </proc/$c/environ | sed -n 's/^OMPI_COMM_WORLD_RANK=//p')" = 1 ] && rank1=$c
done
[ -n "$rank1" ] || fail "no rank 1 among mpirun's children $(pgrep -P $pid)"
kill -TERM $rank1
wait $pid
[ $? -ne 0 ] || fail "mpirun exited 0 after SIGTERM to rank 1: $(cat log11)"
grep -qF "paper: rank 1 was interrupted by SIGTERM; stopping the sweep" log11 || fail "lone signal: $(cat log11)"
grep -qF "paper: interrupted by SIGTERM during plain init 1 and plain init 5" log11 || fail "lone signal: $(cat log11)"
[ "$(json lone/manifest.json "m['status'], $statuses, $checkpoints")" = \
  "('interrupted', ['interrupted', 'interrupted'], True, 2)" ] || fail "manifest after SIGTERM to rank 1: $(cat lone/manifest.json)"

echo "paper under mpirun: -np 2 and -np 3 as one process, failed runs reported, refusals, signals (with an idle rank, to one rank alone) and resume as expected"
