#!/usr/bin/env python3
"""rhonet vs PyTorch: runs bench/rhonet_bench and bench/compare_pytorch.py on the
same data, hyperparameters and thread counts, and writes OUT/comparison.md (the target table,
epochs, inference passes, small-batch latency against the weight-streaming bound, the
environment) next to the raw JSON of both sides.

  bench/compare.py [--build build] [--threads 1,2] [--widths 256,512,1024] [--repetitions 5]
                   [--coretype SkylakeX] [--out out/bench] [--skip-pytorch] [--skip-rhonet]
                   [--pytorch-json FILE ...]

rhonet_bench comes from `cmake -S . -B build -DRHONET_BUILD_BENCH=ON &&
cmake --build build --target rhonet_bench`. PyTorch is Debian's python3-torch. Run the whole
thing under `nice` on a shared machine; children inherit it.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PYTORCH_SCRIPT = os.path.join(HERE, "compare_pytorch.py")
CORETYPE_SCRIPT = os.path.join(HERE, os.pardir, "scripts", "blas-coretype.sh")
DEBIAN_PYTHON = "/usr/bin/python3"  # Debian's python3-torch lives in its dist-packages
INSTALL_HINT = ("PyTorch is missing: install it with `sudo apt-get install python3-torch` "
                "(or `bash scripts/install-deps.sh --bench`); continuing with rhonet only")

# PyTorch configurations tried per thread count; the best median wins each row. PASSIVE stops
# libgomp's idle threads from spinning while OpenBLAS's own threads need the cores.
PYTORCH_CONFIGS = {"default": {}, "passive": {"OMP_WAIT_POLICY": "PASSIVE"}}

_TIME_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}

# Small-batch latency rows (one thread): FC4-BN widths and batch sizes, both sides.
LATENCY_WIDTHS = (256, 512)
LATENCY_BATCHES = (1, 4, 16)


# ----------------------------------------------------------------------------- rhonet side

def parse_run_name(name):
    """'fc4_bn_epoch/W:256/blas_threads:1[/real_time...]' -> ('fc4_bn_epoch', W, threads, batch).
    Google Benchmark may append '/real_time', '/iterations:1', '/repeats:5' and the like;
    parts that are not W, blas_threads or batch are ignored. The latency rows run on one
    thread and carry no blas_threads: their threads are 1."""
    parts = name.split("/")
    params = dict(p.split(":", 1) for p in parts[1:] if ":" in p)
    try:
        w = int(params["W"]) if "W" in params else None
        t = int(params["blas_threads"]) if "blas_threads" in params else None
        b = int(params["batch"]) if "batch" in params else None
    except ValueError:
        return None
    if t is None and ("latency" in parts[0] or "weight_stream" in parts[0]):
        t = 1
    return parts[0], w, t, b


def parse_gbench(doc):
    """Google Benchmark JSON -> {(bench, W, threads, batch): {"median", "min", "max"} in
    seconds, plus "allocs" (the median row's allocs/step or allocs/call counter) when present}.

    Uses the aggregate rows (median/min/max); when a run has no aggregates (repetitions 1),
    its iteration rows stand in for all three. Rows that are errors or unparsable are skipped.
    """
    aggregates, iterations = {}, {}
    for b in doc.get("benchmarks", []):
        if b.get("error_occurred"):
            continue
        run_name = b.get("run_name") or b.get("name", "")
        key = parse_run_name(run_name)
        if key is None or "real_time" not in b:
            continue
        seconds = float(b["real_time"]) * _TIME_UNITS.get(b.get("time_unit", "ns"), 1e-9)
        if b.get("run_type") == "aggregate":
            agg = b.get("aggregate_name")
            if agg in ("median", "min", "max"):
                aggregates.setdefault(key, {})[agg] = seconds
            if agg == "median":
                for counter in ("allocs/step", "allocs/call"):
                    if counter in b:
                        aggregates.setdefault(key, {})["allocs"] = float(b[counter])
        else:
            iterations.setdefault(key, []).append(seconds)
    out = {}
    for key in set(aggregates) | set(iterations):
        row = dict(aggregates.get(key, {}))
        times = iterations.get(key, [])
        if times:  # fill what the aggregates lack
            row.setdefault("median", statistics.median(times))
            row.setdefault("min", min(times))
            row.setdefault("max", max(times))
        if "median" in row:
            out[key] = row
    return out


def rhonet_filter(widths, threads):
    w = "|".join(str(v) for v in widths)
    t = "|".join(str(v) for v in threads)
    lat = "|".join(str(v) for v in LATENCY_WIDTHS)
    b = "|".join(str(v) for v in LATENCY_BATCHES)
    return (f"^(fc4_bn_epoch|fc4_bn_gemm_only|fc4_bn_inference|fc4_bn_step)/W:({w})/blas_threads:({t})(/|$)"
            f"|^(conv4_bn_epoch|conv4_bn_step)/blas_threads:({t})(/|$)"
            f"|^fc4_bn_latency/W:({lat})/batch:({b})(/|$)|^fc4_bn_weight_stream/W:({lat})(/|$)"
            f"|^conv4_bn_latency/batch:({b})(/|$)|^conv4_bn_weight_stream(/|$)")


def run_rhonet(args, env):
    binary = os.path.join(args.build, "bench", "rhonet_bench")
    if not os.access(binary, os.X_OK):
        print(f"compare.py: {binary} not found; build it with\n"
              f"  cmake -S . -B {args.build} -DRHONET_BUILD_BENCH=ON -DCMAKE_BUILD_TYPE=Release"
              f" && cmake --build {args.build} --target rhonet_bench", file=sys.stderr)
        return None
    out_file = os.path.join(args.out, "rhonet.json")
    cmd = [binary, f"--benchmark_filter={rhonet_filter(args.widths, args.threads)}",
           f"--benchmark_repetitions={args.repetitions}",
           "--benchmark_report_aggregates_only=true",
           "--benchmark_format=json", f"--benchmark_out={out_file}"]
    print("+ " + " ".join(cmd), flush=True)
    remove_stale(out_file)
    # stdout carries the same JSON as the file; keep the console readable.
    if subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL).returncode != 0:
        print("compare.py: rhonet_bench failed; using whatever it wrote", file=sys.stderr)
    return load_json(out_file)


def remove_stale(path):
    """A failed run must read as missing, not as the previous run's numbers."""
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        print(f"compare.py: cannot read {path}: {e}", file=sys.stderr)
        return None


# ----------------------------------------------------------------------------- PyTorch side

def python_with_torch(preferred):
    for py in dict.fromkeys([preferred, DEBIAN_PYTHON]):  # ordered, without duplicates
        if py and shutil.which(py) and subprocess.run(
                [py, "-c", "import torch"], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL).returncode == 0:
            return py
    return None


def run_pytorch(args, base_env):
    """Runs compare_pytorch.py once per (thread count, config) in a fresh process (the OpenMP
    wait policy is read at start-up). Returns the list of loaded JSON documents."""
    py = python_with_torch(args.python)
    if py is None:
        print("compare.py: " + INSTALL_HINT, file=sys.stderr)
        return []
    docs = []
    for t in args.threads:
        for config, extra in PYTORCH_CONFIGS.items():
            env = dict(base_env)
            env.pop("OMP_WAIT_POLICY", None)
            # Same thread count for libgomp and OpenBLAS, as rhonet's blas_threads:t.
            env.update(extra, OMP_NUM_THREADS=str(t), OPENBLAS_NUM_THREADS=str(t))
            out_file = os.path.join(args.out, f"pytorch-threads{t}-{config}.json")
            cmd = [py, PYTORCH_SCRIPT, "--threads", str(t),
                   "--widths", ",".join(map(str, args.widths)),
                   "--epochs", str(args.repetitions), "--nets", "fc4_bn,conv4_bn",
                   "--inference-widths", ",".join(str(w) for w in args.widths if w == 256),
                   # latency runs on one thread whatever t is: measured in the first runs only
                   "--latency-widths", ",".join(map(str, LATENCY_WIDTHS)) if t == args.threads[0] else "",
                   "--latency-batches", ",".join(map(str, LATENCY_BATCHES)),
                   "--json", out_file]
            print(f"+ [{config}] " + " ".join(cmd), flush=True)
            remove_stale(out_file)
            if subprocess.run(cmd, env=env).returncode != 0:
                print(f"compare.py: compare_pytorch.py failed for threads={t} {config}",
                      file=sys.stderr)
            doc = load_json(out_file)
            if doc is not None:
                doc["config"] = config
                docs.append(doc)
    return docs


def config_of(doc):
    if "config" in doc:
        return doc["config"]
    policy = (doc.get("env") or {}).get("OMP_WAIT_POLICY") or ""
    return "passive" if policy.upper() == "PASSIVE" else "default"


def best_pytorch(docs):
    """{(bench, W, threads): row with the smallest median over configs, plus its config}."""
    best = {}
    for doc in docs:
        for r in doc.get("results", []):
            key = (r.get("bench"), r.get("W"), r.get("threads"), r.get("batch"))
            if "median" not in r:
                continue
            if key not in best or r["median"] < best[key]["median"]:
                best[key] = dict(r, config=config_of(doc))
    return best


# ----------------------------------------------------------------------------- report

def fmt_time(row, scale=1.0, digits=3):
    if not row:
        return "n/a"
    return f"{row['median'] * scale:.{digits}f} ({row.get('min', float('nan')) * scale:.{digits}f}, " \
           f"{row.get('max', float('nan')) * scale:.{digits}f})"


def ratio_of(a, b):
    """a / b of two rows' medians, or None."""
    return a["median"] / b["median"] if a and b and b["median"] > 0 else None


def verdict(value, ok):
    if value is None:
        return "n/a"
    return "met" if ok else "**missed**"


def target_rows(rh, pt):
    """The performance targets, one row each: what is measured, its value, the target and
    whether it is met. Every value is a ratio of medians measured in this run (or a count)."""
    rows = []

    def add(label, value, target, at_most, fmt="{:.3f}"):
        ok = value is not None and (value <= target if at_most else value >= target)
        rows.append({"row": label, "value": value, "shown": "n/a" if value is None else fmt.format(value),
                     "target": ("<= " if at_most else ">= ") + fmt.format(target),
                     "status": verdict(value, ok)})

    for w in (512, 1024):
        for t in (1, 2):
            add(f"FC4-BN epoch / its GEMM-only time, W {w}, {t} thread{'s' if t > 1 else ''}",
                ratio_of(rh.get(("fc4_bn_epoch", w, t, None)), rh.get(("fc4_bn_gemm_only", w, t, None))),
                1.12, True)
    add("FC4-BN epoch vs PyTorch, W 512, 2 threads (PyTorch / rhonet)",
        ratio_of(pt.get(("fc4_bn_epoch", 512, 2, None)), rh.get(("fc4_bn_epoch", 512, 2, None))),
        1.5, False, "{:.2f}x")
    for t in (1, 2):
        add(f"Conv4-BN epoch vs PyTorch (oneDNN), {t} thread{'s' if t > 1 else ''}",
            ratio_of(pt.get(("conv4_bn_epoch", None, t, None)), rh.get(("conv4_bn_epoch", None, t, None))),
            1.2, False, "{:.2f}x")
    add("Conv4-BN epoch, 2 threads / 1 thread",
        ratio_of(rh.get(("conv4_bn_epoch", None, 2, None)), rh.get(("conv4_bn_epoch", None, 1, None))),
        0.6, True)
    for net, w, eager, traced in (("fc4_bn", 256, 4.0, 2.0), ("conv4_bn", None, 3.0, 1.5)):
        label = "FC4-BN W=256" if net == "fc4_bn" else "Conv4-BN"
        r = rh.get((f"{net}_latency", w, 1, 1))
        add(f"{label} batch-1 latency vs PyTorch eager (no_grad)",
            ratio_of(pt.get((f"{net}_latency_eager", w, 1, 1)), r), eager, False, "{:.2f}x")
        add(f"{label} batch-1 latency vs PyTorch traced (jit.trace + freeze)",
            ratio_of(pt.get((f"{net}_latency_traced", w, 1, 1)), r), traced, False, "{:.2f}x")
    add("FC4-BN W=512 batch-1 latency / weight-streaming bound",
        ratio_of(rh.get(("fc4_bn_latency", 512, 1, 1)), rh.get(("fc4_bn_weight_stream", 512, 1, None))),
        1.5, True)
    steps = [r.get("allocs") for k, r in rh.items() if k[0] in ("fc4_bn_step", "conv4_bn_step")]
    calls = [r.get("allocs") for k, r in rh.items() if k[0] in ("fc4_bn_latency", "conv4_bn_latency")]
    for label, counts in (("heap allocations per steady-state step (most over the step rows)", steps),
                          ("heap allocations per predict() (most over the latency rows)", calls)):
        counts = [c for c in counts if c is not None]
        add(label, max(counts) if counts else None, 0, True, "{:g}")
    return rows


def build_tables(rh, pt, widths, threads):
    rows = []
    for t in threads:
        for w in widths:
            rows.append(("fc4_bn_epoch", w, t))
        rows.append(("conv4_bn_epoch", None, t))
        rows.append(("fc4_bn_inference", 256, t))
    main, gemm = [], []
    for bench, w, t in rows:
        r, p = rh.get((bench, w, t, None)), pt.get((bench, w, t, None))
        g = rh.get(("fc4_bn_gemm_only", w, t, None)) if bench == "fc4_bn_epoch" else None
        main.append({"bench": bench, "W": w, "threads": t, "rhonet": r, "gemm_only": g, "pytorch": p,
                     "speedup": ratio_of(p, r)})
        if bench == "fc4_bn_epoch":
            gemm.append({"W": w, "threads": t, "rhonet": r, "gemm_only": g, "ratio": ratio_of(r, g)})
    latency = []
    for net, ws in (("fc4_bn", LATENCY_WIDTHS), ("conv4_bn", (None,))):
        for w in ws:
            bound = rh.get((f"{net}_weight_stream", w, 1, None))
            for b in LATENCY_BATCHES:
                r = rh.get((f"{net}_latency", w, 1, b))
                eager = pt.get((f"{net}_latency_eager", w, 1, b))
                traced = pt.get((f"{net}_latency_traced", w, 1, b))
                latency.append({"net": net, "W": w, "batch": b, "rhonet": r, "bound": bound,
                                "eager": eager, "traced": traced, "vs_eager": ratio_of(eager, r),
                                "vs_traced": ratio_of(traced, r), "vs_bound": ratio_of(r, bound)})
    return main, gemm, latency


NET_LABEL = {"fc4_bn_epoch": "FC4-BN epoch", "conv4_bn_epoch": "Conv4-BN epoch",
             "fc4_bn_inference": "FC4-BN inference", "fc4_bn": "FC4-BN", "conv4_bn": "Conv4-BN"}


def load_warning(rh_doc, pt_docs):
    """A line for the top of the report when either side ran on a busy machine (1-minute load
    average above the CPU count): such numbers are not fit for verdicts."""
    loads = [("rhonet", (rh_doc or {}).get("context", {}).get("load_avg"))]
    loads += [(f"PyTorch [{config_of(d)}]", d.get("loadavg_start")) for d in pt_docs]
    cpus = os.cpu_count() or 1
    busy = [f"{who} {load[0]:.1f}" for who, load in loads if load and load[0] > cpus]
    if not busy:
        return []
    return [f"**Warning: the machine was busy** (1-min load average above its {cpus} CPUs: "
            + ", ".join(busy) + "); rerun on a quiet machine before reading the verdicts.", ""]


def fmt_ratio(v, suffix=""):
    return f"{v:.2f}{suffix}" if v is not None else "n/a"


def markdown(targets, main, gemm, latency, env_lines, repetitions, warning=()):
    out = ["# rhonet vs PyTorch", ""] + list(warning) + [
           "## Targets", "",
           f"Every value is a ratio of medians of {repetitions} timed runs made by this one "
           "invocation (same data, threads and OpenBLAS kernels on both sides), or a count.", "",
           "| row | measured | target | status |", "|---|---|---|---|"]
    for t in targets:
        out.append(f"| {t['row']} | {t['shown']} | {t['target']} | {t['status']} |")
    out += ["", "## Epochs and inference passes", "",
            f"Seconds per epoch (inference: per pass) over the 12,000 training samples, batch "
            f"128; median (min, max) of {repetitions} timed runs after warm-up. PyTorch: best of "
            f"its configurations by median, in brackets. Speed-up = PyTorch / rhonet.", "",
            "| net | W | threads | rhonet s/epoch median (min, max) | GEMM-only s/epoch "
            "| PyTorch best s/epoch median (min, max) [config] | speed-up (PyTorch/rhonet) |",
            "|---|---|---|---|---|---|---|"]
    for m in main:
        p = m["pytorch"]
        pt = f"{fmt_time(p)} [{p['config']}]" if p else "n/a"
        g = f"{m['gemm_only']['median']:.3f}" if m["gemm_only"] else (
            "n/a" if m["bench"] == "fc4_bn_epoch" else "—")
        out.append(f"| {NET_LABEL[m['bench']]} | {m['W'] or '—'} | {m['threads']} | "
                   f"{fmt_time(m['rhonet'])} | {g} | {pt} | {fmt_ratio(m['speedup'], 'x')} |")
    out += ["", "## Small-batch latency", "",
            "Microseconds per call on one thread, median (min, max): rhonet's `predict`, PyTorch "
            "eager under `torch.no_grad()` and PyTorch traced (`torch.jit.trace` then "
            "`torch.jit.freeze`). Bound: reading every parameter once, in the same binary.", "",
            "| net | W | batch | rhonet us | bound us | PyTorch eager us | PyTorch traced us "
            "| eager / rhonet | traced / rhonet | rhonet / bound |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for r in latency:
        bound = f"{r['bound']['median'] * 1e6:.1f}" if r["bound"] else "n/a"
        out.append(f"| {NET_LABEL[r['net']]} | {r['W'] or '—'} | {r['batch']} | "
                   f"{fmt_time(r['rhonet'], 1e6, 1)} | {bound} | {fmt_time(r['eager'], 1e6, 1)} | "
                   f"{fmt_time(r['traced'], 1e6, 1)} | {fmt_ratio(r['vs_eager'], 'x')} | "
                   f"{fmt_ratio(r['vs_traced'], 'x')} | {fmt_ratio(r['vs_bound'])} |")
    out += ["", "## FC4-BN epoch against its GEMM-only bound", "",
            "The same epoch's sgemm calls alone; ratio = rhonet epoch / GEMM-only (medians).", "",
            "| W | threads | rhonet s/epoch | GEMM-only s/epoch | ratio |",
            "|---|---|---|---|---|"]
    for g in gemm:
        ratio = f"{g['ratio']:.3f}" if g["ratio"] is not None else "n/a"
        r = f"{g['rhonet']['median']:.3f}" if g["rhonet"] else "n/a"
        gg = f"{g['gemm_only']['median']:.3f}" if g["gemm_only"] else "n/a"
        out.append(f"| {g['W']} | {g['threads']} | {r} | {gg} | {ratio} |")
    out += ["", "## Environment", ""] + [f"- {line}" for line in env_lines] + [""]
    return "\n".join(out)


def command_output(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
    except OSError:
        return ""


def environment(rh_doc, pt_docs, args, env):
    lines = []
    lscpu = command_output(["lscpu"])
    model = re.search(r"^Model name:\s*(.+)$", lscpu, re.M)
    lines.append(f"CPU: {model.group(1).strip() if model else platform.processor() or 'unknown'}"
                 f", {os.cpu_count()} logical CPUs")
    lines.append(f"Kernel: {platform.system()} {platform.release()}")
    try:
        lines.append("Load average at report time (1, 5, 15 min): "
                     + ", ".join(f"{v:.2f}" for v in os.getloadavg())
                     + f"; nice {os.nice(0)}")
    except OSError:
        pass
    alt = command_output(["update-alternatives", "--query", "libblas.so.3-x86_64-linux-gnu"])
    value = re.search(r"^Value:\s*(.+)$", alt, re.M)
    lines.append(f"libblas.so.3 alternative: `{value.group(1).strip() if value else 'unknown'}`")
    if rh_doc:
        ctx = rh_doc.get("context", {})
        lines.append(f"rhonet: OpenBLAS `{ctx.get('openblas_config', 'n/a')}`, core "
                     f"`{ctx.get('openblas_corename', 'n/a')}` (CPU's best "
                     f"`{ctx.get('openblas_best_coretype', 'n/a')}`), max threads "
                     f"{ctx.get('openblas_threads_max', 'n/a')}; data {ctx.get('data', 'n/a')}; "
                     f"Google Benchmark library built as {ctx.get('library_build_type', 'n/a')}; "
                     f"run {ctx.get('date', 'n/a')}")
    else:
        lines.append("rhonet: not run")
    # An unoptimised rhonet_bench would make every ratio meaningless: say what was built.
    build_type = "unknown"
    try:
        with open(os.path.join(args.build, "CMakeCache.txt")) as f:
            m = re.search(r"^CMAKE_BUILD_TYPE:\w+=(.*)$", f.read(), re.M)
            build_type = (m.group(1) or "(empty: no optimisation flags)") if m else build_type
    except OSError:
        pass
    lines.append(f"rhonet build: `{args.build}`, CMAKE_BUILD_TYPE {build_type}")
    if pt_docs:
        d = pt_docs[0]
        blas = d.get("blas", {})
        lines.append(f"PyTorch {d.get('torch_version', '?')}: BLAS {blas.get('summary', '?')} "
                     f"(BLAS_INFO={blas.get('BLAS_INFO', '?')}, OpenBLAS core "
                     f"`{blas.get('openblas_corename', 'n/a')}`), oneDNN "
                     f"{'on' if blas.get('USE_MKLDNN') == 'ON' else blas.get('USE_MKLDNN', '?')}; "
                     f"data {d.get('data', '?')}")
        for doc in pt_docs:
            threads = sorted({r.get("threads") for r in doc.get("results", [])})
            load = doc.get("loadavg_start")
            set_vars = [f"{k}={v}" for k, v in (doc.get("env") or {}).items() if v is not None]
            lines.append(f"PyTorch run threads {threads} [{config_of(doc)}]: env "
                         + (", ".join(set_vars) or "(none of the thread/BLAS variables set)")
                         + (f"; load average at start {load[0]:.2f}" if load else ""))
    else:
        lines.append("PyTorch: not run")
    lines.append(f"Thread counts: {', '.join(map(str, args.threads))} (rhonet: blas_threads; "
                 f"PyTorch: torch.set_num_threads and OpenBLAS threads)")
    lines.append("OPENBLAS_CORETYPE: " + (env.get("OPENBLAS_CORETYPE") or "unset")
                 + "; OMP_WAIT_POLICY (driver env): " + (env.get("OMP_WAIT_POLICY") or "unset"))
    lines.append("Date: " + datetime.datetime.now().astimezone().isoformat(timespec="seconds"))
    return lines


# ----------------------------------------------------------------------------- main

def int_list(s):
    return [int(v) for v in s.split(",") if v]


def main():
    p = argparse.ArgumentParser(
        description="Run rhonet_bench and the PyTorch baseline; write OUT/comparison.md and the "
                    "raw JSON of both sides.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--build", default="build", help="build dir holding bench/rhonet_bench")
    p.add_argument("--threads", type=int_list, default="1,2", help="comma-separated")
    p.add_argument("--widths", type=int_list, default="256,512,1024", help="FC4-BN widths")
    p.add_argument("--repetitions", type=int, default=5,
                   help="timed epochs/passes per configuration, both sides")
    p.add_argument("--coretype", help="OPENBLAS_CORETYPE for both sides, e.g. SkylakeX (default: "
                   "the environment's, else the CPU's best from scripts/blas-coretype.sh)")
    p.add_argument("--out", default=os.path.join("out", "bench"), help="output directory")
    p.add_argument("--skip-pytorch", action="store_true", help="run rhonet only")
    p.add_argument("--skip-rhonet", action="store_true", help="run PyTorch only")
    p.add_argument("--pytorch-json", nargs="+", metavar="FILE",
                   help="reuse these compare_pytorch.py results instead of running PyTorch")
    p.add_argument("--rhonet-json", metavar="FILE",
                   help="reuse this rhonet_bench JSON instead of running the binary")
    p.add_argument("--python", default=sys.executable,
                   help=f"interpreter for compare_pytorch.py (falls back to {DEBIAN_PYTHON})")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)

    env = dict(os.environ)
    if args.coretype:
        env["OPENBLAS_CORETYPE"] = args.coretype
    elif not env.get("OPENBLAS_CORETYPE"):
        # Both sides on the CPU's best kernels, not on whatever OpenBLAS makes of the model.
        best = subprocess.run(["bash", CORETYPE_SCRIPT], capture_output=True, text=True,
                              check=False).stdout.strip()
        if best:
            env["OPENBLAS_CORETYPE"] = best

    rh_doc = None
    if args.rhonet_json:
        rh_doc = load_json(args.rhonet_json)
    elif not args.skip_rhonet:
        rh_doc = run_rhonet(args, env)

    pt_docs = []
    if args.pytorch_json:
        pt_docs = [d for d in map(load_json, args.pytorch_json) if d is not None]
    elif not args.skip_pytorch:
        pt_docs = run_pytorch(args, env)

    rh = parse_gbench(rh_doc) if rh_doc else {}
    pt = best_pytorch(pt_docs)
    main_rows, gemm_rows, latency_rows = build_tables(rh, pt, args.widths, args.threads)
    targets = target_rows(rh, pt)
    env_lines = environment(rh_doc, pt_docs, args, env)
    # Count from the data, not the flag: reused JSON may come from another --repetitions.
    counts = {b.get("repetitions") for b in (rh_doc or {}).get("benchmarks", [])}
    counts |= {d.get("epochs_timed") for d in pt_docs}
    counts.discard(None)
    reps = "/".join(str(c) for c in sorted(counts)) or str(args.repetitions)
    md = markdown(targets, main_rows, gemm_rows, latency_rows, env_lines, reps,
                  load_warning(rh_doc, pt_docs))
    with open(os.path.join(args.out, "comparison.md"), "w") as f:
        f.write(md)
    with open(os.path.join(args.out, "comparison.json"), "w") as f:
        json.dump({"targets": targets, "rows": main_rows, "gemm_only": gemm_rows,
                   "latency": latency_rows, "environment": env_lines,
                   "rhonet_context": (rh_doc or {}).get("context"),
                   "pytorch_runs": [{"config": config_of(d), "env": d.get("env"),
                                     "results": d.get("results")} for d in pt_docs]},
                  f, indent=1)
    print(md)
    print(f"wrote {os.path.join(args.out, 'comparison.md')}")


if __name__ == "__main__":
    main()
