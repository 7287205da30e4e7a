#!/usr/bin/env python3
"""Compile-time budget of rhonet's translation units (helper of scripts/compile-budget.sh).

Re-runs the compile command of every TU under examples/ and bench/ found in
BUILD/compile_commands.json, one at a time, under /usr/bin/time (wall seconds, peak RSS), and
writes a markdown table with the verdict against the budget (<= 12 s, <= 1 GB per TU). The
slowest TU is then compiled once more with clang++ -ftime-trace (when clang++ exists; its
trace JSON is summarised) or else g++ -ftime-report, and the top phases are appended.

  compile_budget.py BUILD_DIR [--out out/compile-budget.md] [--dirs examples,bench]
"""

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

BUDGET_SECONDS = 12.0
BUDGET_MB = 1024.0  # 1 GB
TOP = 10


def compile_entries(build, source_root, dirs):
    with open(os.path.join(build, "compile_commands.json")) as f:
        entries = json.load(f)
    # Sources under the source tree, and those CMake generates under the build tree (the
    # paper program's per-network translation units).
    prefixes = [os.path.join(root, d) + os.sep for root in (source_root, os.path.abspath(build))
                for d in dirs]
    keep = []
    for e in entries:
        path = os.path.normpath(os.path.join(e["directory"], e["file"]))
        if any(path.startswith(p) for p in prefixes):
            keep.append(dict(e, file=path))
    # Precompiled headers first: the TUs that include one need it built.
    return sorted(keep, key=lambda e: (not is_pch(e), e["file"]))


def is_pch(entry):
    return entry["file"].endswith("cmake_pch.hxx.cxx")


def arguments(entry, obj):
    """The entry's compiler argv with the object written to `obj` and no dependency files:
    the measurement must not touch the build tree (a parallel build may be using it), except
    that a precompiled header is written where the TUs that use it look for it."""
    argv = entry.get("arguments") or shlex.split(entry["command"])
    out, skip = [], False
    for i, a in enumerate(argv):
        if skip:
            skip = False
            continue
        if a in ("-o", "-MT", "-MF", "-MQ"):
            skip = True
            if a == "-o":
                out += ["-o", argv[i + 1] if is_pch(entry) else obj]
            continue
        if a in ("-MD", "-MMD"):
            continue
        out.append(a)
    return out


def timed(argv, cwd):
    """(wall s, cpu s, peak MB, returncode, stderr) of argv under /usr/bin/time."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        p = subprocess.run(["/usr/bin/time", "-o", tf.name, "-f", "%e %U %S %M"] + argv,
                           cwd=cwd, capture_output=True, text=True)
        fields = tf.read().split()[-4:]  # a killed child adds a line before the numbers
    try:
        wall, user, sys_, kb = (float(v) for v in fields)
    except ValueError:
        wall = user = sys_ = kb = float("nan")
    return wall, user + sys_, kb / 1024.0, p.returncode, p.stderr


def rel(path, root):
    return os.path.relpath(path, root)


# ----------------------------------------------------------------------------- profiles

def clang_trace(entry, tmp, root):
    """clang++ -ftime-trace of the TU; returns markdown lines, or None if clang++ failed."""
    clang = shutil.which("clang++")
    if clang is None:
        return None
    obj = os.path.join(tmp, "trace.o")
    argv = arguments(entry, obj)
    argv = [clang] + argv[1:] + ["-ftime-trace", "-ftime-trace-granularity=500"]
    p = subprocess.run(argv, cwd=entry["directory"], capture_output=True, text=True)
    trace = os.path.join(tmp, "trace.json")
    if p.returncode != 0 or not os.path.exists(trace):
        print("compile_budget: clang++ -ftime-trace failed, falling back to g++ -ftime-report:\n"
              + p.stderr[-2000:], file=sys.stderr)
        return None
    with open(trace) as f:
        events = [e for e in json.load(f).get("traceEvents", []) if e.get("ph") == "X"]
    totals = sorted((e for e in events if e.get("name", "").startswith("Total ")),
                    key=lambda e: -e.get("dur", 0))
    # Single entries worth acting on: headers parsed and templates instantiated.
    kinds = ("Source", "InstantiateClass", "InstantiateFunction", "ParseClass",
             "ParseTemplate", "CodeGen Function", "OptFunction")
    items = sorted((e for e in events if e.get("name") in kinds),
                   key=lambda e: -e.get("dur", 0))
    lines = [f"`clang++ -ftime-trace` of `{rel(entry['file'], root)}` (clang's view of the same "
             f"TU; the build compiles it with g++).", "",
             "| phase (total over the TU) | s |", "|---|---|"]
    lines += [f"| {e['name'][6:]} | {e['dur'] / 1e6:.2f} |" for e in totals[:TOP]]
    lines += ["", f"Top {TOP} single entries:", "", "| kind | detail | s |", "|---|---|---|"]
    for e in items[:TOP]:
        detail = str(e.get("args", {}).get("detail", ""))
        detail = rel(detail, root) if detail.startswith(root) else detail
        if len(detail) > 110:
            detail = detail[:107] + "..."
        lines.append(f"| {e['name']} | `{detail.replace('|', '¦')}` | {e['dur'] / 1e6:.2f} |")
    return lines


_REPORT_LINE = re.compile(r"^\s*(.+?)\s*:\s*([\d.]+)\s*\(\s*\d+%\)\s*([\d.]+)\s*\(\s*\d+%\)"
                          r"\s*([\d.]+)\s*\(\s*\d+%\)")


def gcc_report(entry, tmp, root):
    obj = os.path.join(tmp, "report.o")
    argv = arguments(entry, obj) + ["-ftime-report"]
    p = subprocess.run(argv, cwd=entry["directory"], capture_output=True, text=True)
    rows = []
    for line in p.stderr.splitlines():
        m = _REPORT_LINE.match(line)
        if m and not m.group(1).upper().startswith("TOTAL"):
            rows.append((m.group(1), float(m.group(2)), float(m.group(3)), float(m.group(4))))
    if not rows:
        return [f"g++ -ftime-report gave nothing parsable (exit {p.returncode})."]
    # GCC marks nested time variables with a leading '|'; keep it, escaped for the table.
    rows = [(r[0].replace("|", "\\|"),) + r[1:] for r in rows]
    phases = [r for r in rows if r[0].startswith("phase ")]
    detail = sorted((r for r in rows if not r[0].startswith("phase ")), key=lambda r: -r[3])
    lines = [f"`g++ -ftime-report` of `{rel(entry['file'], root)}`.", "",
             "| phase | wall s | usr s |", "|---|---|---|"]
    lines += [f"| {n} | {w:.2f} | {u:.2f} |" for n, u, _, w in sorted(phases, key=lambda r: -r[3])]
    lines += ["", f"Top {TOP} time variables:", "", "| item | wall s | usr s |", "|---|---|---|"]
    lines += [f"| {n} | {w:.2f} | {u:.2f} |" for n, u, _, w in detail[:TOP]]
    return lines


# ----------------------------------------------------------------------------- main

def main():
    p = argparse.ArgumentParser(description="Measure the compile time and peak memory of each "
                                            "example/bench translation unit.")
    p.add_argument("build", help="configured build dir with compile_commands.json")
    p.add_argument("--out", default=os.path.join("out", "compile-budget.md"))
    p.add_argument("--dirs", default="examples,bench",
                   help="comma-separated source folders whose TUs are measured")
    p.add_argument("--source", default=os.getcwd(), help="source root")
    p.add_argument("--note", action="append", default=[], help="line added under the title")
    p.add_argument("--profiler", choices=("auto", "clang", "gcc"), default="auto",
                   help="profile of the slowest TU: clang++ -ftime-trace (auto: when clang++ "
                        "exists) or g++ -ftime-report")
    args = p.parse_args()
    root = os.path.abspath(args.source)

    entries = compile_entries(args.build, root, [d for d in args.dirs.split(",") if d])
    if not entries:
        sys.exit(f"compile_budget: no TU under {args.dirs} in {args.build}/compile_commands.json")

    rows = []
    with tempfile.TemporaryDirectory(prefix="rhonet-budget-") as tmp:
        for i, e in enumerate(entries):
            name = rel(e["file"], root)
            print(f"[{i + 1}/{len(entries)}] {name} ...", end=" ", flush=True)
            wall, cpu, mb, rc, err = timed(arguments(e, os.path.join(tmp, f"{i}.o")),
                                           e["directory"])
            print(f"{wall:.1f} s, {mb:.0f} MB" + ("" if rc == 0 else f", FAILED ({rc})"),
                  flush=True)
            if rc != 0:
                print(err[-3000:], file=sys.stderr)
            rows.append({"tu": name, "wall": wall, "cpu": cpu, "mb": mb, "rc": rc, "entry": e})

        try:
            load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
        except OSError:
            load = "n/a"
        compiler = arguments(entries[0], "x.o")[0]
        resolved = os.path.realpath(shutil.which(compiler) or compiler)
        compiler = os.path.basename(compiler) + (
            f" = {os.path.basename(resolved)}" if os.path.basename(resolved) != os.path.basename(
                compiler) else "")
        md = ["# Compile budget", "",
              f"Each TU compiled alone with its build command ({compiler}, Release flags) under "
              f"`/usr/bin/time`. Budget: <= {BUDGET_SECONDS:.0f} s wall and <= 1 GB peak "
              f"RSS. CPU s = user + sys, which a loaded machine inflates less than wall time.",
              "", f"Measured {time.strftime('%Y-%m-%d %H:%M %Z')}; load average after the runs: "
              f"{load}; {os.cpu_count()} CPUs."]
        md += [f"{n}" for n in args.note]
        # The budget is on wall time; the CPU-time verdict tells a slow TU from a busy machine.
        md += ["", "| TU | wall s | CPU s | peak MB | within budget (wall) | within budget (CPU) |",
               "|---|---|---|---|---|---|"]
        for r in rows:
            if r["rc"] != 0:
                verdicts = ["failed to compile"] * 2
            else:
                verdicts = ["yes" if t <= BUDGET_SECONDS and r["mb"] <= BUDGET_MB else "**no**"
                            for t in (r["wall"], r["cpu"])]
            md.append(f"| `{r['tu']}` | {r['wall']:.1f} | {r['cpu']:.1f} | {r['mb']:.0f} | "
                      f"{verdicts[0]} | {verdicts[1]} |")

        ok_rows = [r for r in rows if r["rc"] == 0]
        if ok_rows:
            slowest = max(ok_rows, key=lambda r: r["wall"])
            print(f"profiling the slowest TU, {slowest['tu']} ...", flush=True)
            profile = None
            if args.profiler in ("auto", "clang"):
                profile = clang_trace(slowest["entry"], tmp, root)
            if profile is None:
                profile = gcc_report(slowest["entry"], tmp, root)
            md += ["", "## Where the slowest TU spends its time", ""] + profile

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    print(f"wrote {args.out}")
    return 1 if any(r["rc"] != 0 for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
