"""Runs the numpy reference loader of docs/guide.md on models saved by numpy_loader_fixture
and compares its outputs with rhonet's predictions.

Usage: numpy_loader.py GUIDE_MD FIXTURE_FOLDER. Exit 77 (skipped) when numpy is missing.
"""
import sys
from pathlib import Path

try:
    import numpy as np
except ImportError:
    print("numpy is not installed for", sys.executable, "- the numpy reference loader test is skipped")
    sys.exit(77)

MARKER = "<!-- numpy reference loader (test/numpy_loader.py runs this block) -->"


def loader_code(guide: Path) -> str:
    text = guide.read_text()
    start = text.find(MARKER)
    if start < 0:
        sys.exit(f"{guide}: the marker {MARKER!r} is missing")
    block = text[start + len(MARKER):].lstrip("\n")
    if not block.startswith("```python\n"):
        sys.exit(f"{guide}: the marker must be followed by a ```python block")
    return block[len("```python\n"):block.index("\n```", 0) + 1]


def main() -> int:
    guide, root = Path(sys.argv[1]), Path(sys.argv[2])
    code = loader_code(guide)
    print(f"{guide}: the loader is {code.count(chr(10))} lines")
    ns: dict = {}
    exec(compile(code, str(guide), "exec"), ns)
    failures = 0
    for case in ("conv", "fc", "gap"):
        model, tensors = ns["load"](root / case / "model")
        raw = np.load(root / case / "raw.npy")
        expected = np.load(root / case / "expected.npy")
        got = ns["forward"](model, tensors, ns["preprocess"](model, raw))
        err = float(np.max(np.abs(got - expected)) / max(1.0, float(np.max(np.abs(expected)))))
        ok = got.shape == expected.shape and err < 1e-4
        print(f"{case}: outputs {got.shape}, relative error {err:.2e}: {'ok' if ok else 'MISMATCH'}")
        failures += not ok
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
