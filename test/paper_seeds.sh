#!/usr/bin/env bash
# `paper --seeds N`, end to end at a tiny size:
#  - every setting and init runs once per seed, in <setting>/init_<scale>/seed_<s>, and the
#    manifest and summaries name the seed;
#  - the run of seed s in a sweep of several seeds is the run of `--seed s` alone (same
#    numbers), and two seeds give different runs;
#  - REPORT.md judges every prediction per seed and gives the mean and spread over seeds;
#  - --resume with another seed count is refused, with the same one keeps every run;
#  - with MPIEXEC given: mpirun -np 2 writes the same runs as one process.
# Usage: paper_seeds.sh PAPER_BINARY WORK_DIR [MPIEXEC]. Exit 77 (skipped) without the data.
set -uo pipefail
paper=$1
work=$2
mpiexec=${3:-}
. "$(dirname "$0")/support/e2e.sh"
needs_fashion_mnist t10k-images-idx3-ubyte
enter_fresh "$work"

tiny=(--experiment fc-bn-wd,plain --init 1 --epochs 1 --limit-train 64 --limit-test 32 --batch 32 --quiet)

# 1. Three seeds from 5.
"$paper" "${tiny[@]}" --seed 5 --seeds 3 --jobs 2 --threads 1 --out three >log1 2>&1
rc=$?
[ $rc -le 1 ] && [ -s three/REPORT.md ] || fail "the 3-seed sweep exited $rc without a report: $(cat log1)"
for s in fc-bn-wd plain; do
  for seed in 5 6 7; do
    [ -s "three/$s/init_1/seed_$seed/summary.json" ] || fail "no run folder $s/init_1/seed_$seed: $(ls -R three)"
    [ "$(json "three/$s/init_1/seed_$seed/summary.json" 'm["meta"]["seed"], m["config"]["seed"]')" = "($seed, $seed)" ] \
      || fail "$s/init_1/seed_$seed: the summary names another seed"
  done
done
[ "$(json three/manifest.json 'm["seeds"], m["config"]["seeds"], [(r["setting"], r["seed"]) for r in m["runs"]]')" = \
  "([5, 6, 7], 3, [('fc-bn-wd', 5), ('fc-bn-wd', 6), ('fc-bn-wd', 7), ('plain', 5), ('plain', 6), ('plain', 7)])" ] \
  || fail "manifest: $(json three/manifest.json 'm["seeds"], m["runs"]')"
grep -qF "[plain, init 1, seed 6] done in" log1 || fail "the messages do not name the seed: $(cat log1)"
cmp -s three/plain/init_1/seed_5/observations.csv three/plain/init_1/seed_6/observations.csv \
  && fail "seeds 5 and 6 trained the same run"

# 2. The run of seed 6 alone: the same numbers as seed 6 of the sweep.
"$paper" "${tiny[@]}" --seed 6 --jobs 1 --threads 1 --no-report --out six >log2 2>&1
[ -s six/plain/init_1/summary.json ] || fail "the one-seed sweep wrote no run: $(cat log2)"
for s in fc-bn-wd plain; do same_run_folder "six/$s/init_1" "three/$s/init_1/seed_6"; done

# 3. The report: per-seed verdicts, the seeds section with its spread.
rows=$(sed -n '/^## Predictions/,/^## /p' three/REPORT.md | grep -cE '^\| [1-9] \|.*\| 5: [a-z: ]+; 6: [a-z: ]+; 7: [a-z: ]+ \|$')
[ "$rows" = 9 ] || fail "REPORT.md: $rows prediction rows with a verdict per seed: $(sed -n '/^## Predictions/,/^## S/p' three/REPORT.md)"
grep -qF "Every setting and init was trained with 3 seeds (5, 6, 7)" three/REPORT.md || fail "REPORT.md has no seeds section"
/usr/bin/python3 - three <<'PY' || fail "the seeds section's spread is not the runs' spread"
import json, statistics, sys
root = sys.argv[1]
xs = [json.load(open(f"{root}/plain/init_1/seed_{s}/summary.json"))["final"]["test_error"] for s in (5, 6, 7)]
row = next(l for l in open(f"{root}/REPORT.md") if l.startswith("| plain | 1 | 3 |"))
cell = row.split("|")[5].strip()  # test_error
want = f"{statistics.mean(xs):.4g} ± {statistics.stdev(xs):.2g} [{min(xs):.4g}, {max(xs):.4g}]"
sys.exit(0 if cell == want else f"{cell!r}, want {want!r}")
PY

# 4. --resume: another seed count is another sweep; the same one keeps every run.
"$paper" "${tiny[@]}" --seed 5 --seeds 2 --out three --resume >log4 2>&1 && fail "--resume with --seeds 2 was accepted"
grep -qF "has other options: seeds was 3, this command gives 2" log4 || fail "resume mismatch message: $(cat log4)"
"$paper" "${tiny[@]}" --seed 6 --seeds 2 --out six --resume >log5 2>&1 && fail "--resume of one seed with --seeds 2 was accepted"
grep -qF "seeds was 1, this command gives 2" log5 || fail "resume mismatch message: $(cat log5)"
# A sweep written before --seeds (its config has no "seeds") resumes as one seed.
/usr/bin/python3 - six/manifest.json <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
del m["config"]["seeds"]
json.dump(m, open(sys.argv[1], "w"))
PY
"$paper" "${tiny[@]}" --seed 6 --jobs 1 --no-report --out six --resume >log5b 2>&1 \
  || fail "--resume of a sweep from before --seeds: $(cat log5b)"
[ "$(grep -c 'kept from the earlier run' log5b)" = 2 ] || fail "--resume did not keep the 2 runs: $(cat log5b)"
"$paper" "${tiny[@]}" --seed 5 --seeds 3 --jobs 2 --no-report --out three --resume >log6 2>&1 \
  || fail "--resume of a finished sweep: $(cat log6)"
[ "$(grep -c 'kept from the earlier run' log6)" = 6 ] || fail "--resume did not keep the 6 runs: $(cat log6)"

# 5. Under mpirun: the same runs.
if [ -n "$mpiexec" ]; then
  "$mpiexec" --oversubscribe -np 2 "$paper" "${tiny[@]}" --seed 5 --seeds 3 --no-report --out np2 >log7 2>&1 \
    || [ $? -eq 1 ] || fail "mpirun -np 2: $(cat log7)"
  for s in fc-bn-wd plain; do
    for seed in 5 6 7; do same_run_folder "np2/$s/init_1/seed_$seed" "three/$s/init_1/seed_$seed"; done
  done
fi
echo "paper --seeds: per-seed folders, runs and verdicts as expected"
