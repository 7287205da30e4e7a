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
