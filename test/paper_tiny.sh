#!/usr/bin/env bash
# End-to-end: the `paper` program at a tiny size (a few epochs on a small subset) writes the
# CSV with the documented columns, the figures and a report whose table has 9 computed
# verdicts. Usage: paper_tiny.sh PAPER_BINARY WORK_DIR. Exit 77 (skipped) without the data.
set -euo pipefail
paper=$1
work=$2
. "$(dirname "$0")/support/e2e.sh"
needs_fashion_mnist t10k-images-idx3-ubyte
rm -rf "$work"
set +e
"$paper" --experiment fc-bn-wd,conv-bn-nowd,plain --init 0.1,5 --epochs 2 --limit-train 256 \
  --limit-test 128 --batch 64 --threads 1 --quiet --out "$work"
rc=$?
set -e

# At this size the paper's lr makes some BN runs diverge: they are reported, and then paper
# exits 1 (and only then).
diverged=$(/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["diverged_runs"])' "$work/manifest.json") \
  || fail "manifest.json has no diverged_runs"
if [ "$diverged" -gt 0 ]; then expected_rc=1; else expected_rc=0; fi
[ "$rc" -eq "$expected_rc" ] || fail "paper exited $rc with $diverged diverged run(s), expected $expected_rc"
for s in fc-bn-wd conv-bn-nowd plain; do
  for i in 0.1 5; do
    d="$work/$s/init_$i"
    [ -s "$d/summary.json" ] || fail "$d/summary.json missing"
    # The header is the column list summary.json records (one definition), then norm_1..K.
    columns=$(/usr/bin/python3 -c 'import json, sys; print(",".join(json.load(open(sys.argv[1]))["columns"]))' "$d/summary.json")
    case "$columns" in epoch,iter,lr,train_loss,*,nc1,nc2,nc2_cos,nc3,nc4,residual,seconds) ;; *) fail "$d/summary.json columns: $columns" ;; esac
    head -1 "$d/observations.csv" | grep -q "^$columns,norm_1" \
      || fail "$d/observations.csv header: $(head -1 "$d/observations.csv")"
    [ "$(wc -l < "$d/observations.csv")" -ge 4 ] || fail "$d/observations.csv has too few rows"
    head -1 "$d/margins.csv" | grep -q '^epoch,iter,q000,' || fail "$d/margins.csv header"
  done
done
[ -s "$work/REPORT.md" ] || fail "REPORT.md missing"
rows=$(grep -cE '^\| *P?[1-9] *\|' "$work/REPORT.md" || true)
[ "$rows" -ge 9 ] || fail "REPORT.md: expected 9 prediction rows, found $rows"
verdicts=$(grep -cE '^\| *P?[1-9] *\|.*(confirmed|not confirmed|inconclusive)' "$work/REPORT.md" || true)
[ "$verdicts" -ge 9 ] || fail "REPORT.md: expected 9 verdicts, found $verdicts"
n=$(find "$work/figures" -name '*.png' -size +1k | wc -l)
[ "$n" -ge 3 ] || fail "expected figures in $work/figures, found $n"
echo "paper tiny run: 6 runs ($diverged diverged, exit $rc), $n figures, 9 verdicts"
