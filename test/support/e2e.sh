# The prelude of the end-to-end scripts (sourced): skip without the data, a fresh work
# folder, and the two helpers every script uses.

# needs_fashion_mnist FILE: exit 77 (ctest's "skipped") unless FILE or FILE.gz is in the
# Fashion-MNIST folder (RHONET_FASHION_MNIST, else Debian's).
needs_fashion_mnist() {
  local dir=${RHONET_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
  [ -e "$dir/$1.gz" ] || [ -e "$dir/$1" ] || { echo "Fashion-MNIST not found in $dir: skipped"; exit 77; }
}

# enter_fresh DIR: DIR emptied (made if missing), and the current folder.
enter_fresh() {
  rm -rf "$1"
  mkdir -p "$1"
  cd "$1" || exit 1
}

fail() { echo "FAIL: $*"; exit 1; }

# json FILE EXPR: a value from a JSON file (EXPR on the loaded object m).
json() {
  /usr/bin/python3 -c 'import json, sys; m = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# same_run_folder A B: two run folders of paper hold the same files and the same numbers:
# observations.csv and margins.csv without their seconds column, summary.json without wall
# times, where a resume began, and the folders above a checkpoint (its name is compared).
same_run_folder() {
  [ "$(cd "$1" && ls | sort)" = "$(cd "$2" && ls | sort)" ] ||
    fail "$1 and $2 hold other files: $(cd "$1" && ls | sort | tr '\n' ' ')and $(cd "$2" && ls | sort | tr '\n' ' ')"
  /usr/bin/python3 - "$1" "$2" <<'PY' || fail "$1 and $2 differ"
import csv, json, sys
a, b = sys.argv[1:]
def rows(path):
    rows = list(csv.reader(open(path)))
    k = rows[0].index("seconds") if "seconds" in rows[0] else None
    return [r[:k] + r[k + 1:] if k is not None else r for r in rows]
def untimed(x):
    if isinstance(x, dict):
        return {k: untimed(v.rsplit("/ckpt/", 1)[-1] if k == "last_checkpoint" else v)
                for k, v in x.items() if k not in ("seconds", "resumed_from_epoch")}
    return [untimed(v) for v in x] if isinstance(x, list) else x
for f in ("observations.csv", "margins.csv"):
    if rows(f"{a}/{f}") != rows(f"{b}/{f}"):
        sys.exit(f"{f} differs")
if untimed(json.load(open(f"{a}/summary.json"))) != untimed(json.load(open(f"{b}/summary.json"))):
    sys.exit("summary.json differs")
PY
}
