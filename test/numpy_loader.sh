#!/usr/bin/env bash
# The numpy reference loader of docs/guide.md against rhonet: numpy_loader_fixture saves
# models with their inputs and rhonet's predictions, numpy_loader.py runs the guide's loader
# on them. Usage: numpy_loader.sh FIXTURE GUIDE_MD WORK_DIR. Exit 77 (skipped) without numpy.
set -euo pipefail
fixture=$1
guide=$2
work=$3
python=/usr/bin/python3  # Debian's, with python3-numpy (scripts/install-deps.sh)
[ -x "$python" ] || python=python3
rm -rf "$work"
"$fixture" "$work"
exec "$python" "$(dirname "$0")/numpy_loader.py" "$guide" "$work"
