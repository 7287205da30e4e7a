#!/usr/bin/python3
"""Figures and REPORT.md for a run folder written by `paper` (layout: docs/run-format.md).

    /usr/bin/python3 examples/paper/report.py RUN_DIR

Reads RUN_DIR/manifest.json and, for each run it lists as finished or diverged,
RUN_DIR/<setting>/init_<scale>/{observations.csv, margins.csv, summary.json}; writes
RUN_DIR/figures/*.png and RUN_DIR/REPORT.md. The verdicts on the paper's 9 predictions come
from verdicts.py (next to this file). Depends only on Debian's python3 with numpy and
matplotlib.
"""

import csv
import json
import math
import textwrap
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")  # headless: no display on CI or build machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import verdicts  # noqa: E402

FIGDIR = "figures"
N_MARGIN_PROFILES = 8  # sorted margin profiles drawn per run in figure (d)


# ---- reading ---------------------------------------------------------------------------
def _num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return float("nan")  # empty cells, "nan", "-nan" written by some printf variants


def read_csv_columns(path):
    """{column: [float]} plus the header order; ({}, []) if the file is missing or empty."""
    if not os.path.exists(path):
        return {}, []
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return {}, []
    header = [h.strip() for h in rows[0]]
    cols = {h: [] for h in header}
    for row in rows[1:]:
        if not row:
            continue
        for h, v in zip(header, row):
            cols[h].append(_num(v))
    return cols, header


def read_json(path):
    if not os.path.exists(path):
        return {}
    with open(path) as fh:
        return json.load(fh)


def _init_value(label):
    return _num(label[len("init_"):])


def _run_config(summary, rdir):
    """The run's own configuration from its summary.json ("config", written by the trainer,
    and "meta", the paper program's description of the setting): never guessed from names."""
    cfg, meta = summary.get("config"), summary.get("meta")
    if not isinstance(cfg, dict) or not isinstance(meta, dict) or "weight_decay" not in cfg or "bn" not in meta:
        raise ValueError(f"{os.path.join(rdir, 'summary.json')} records no configuration "
                         "(written by an older rhonet); run it again")
    return {"bn": bool(meta["bn"]), "wd": _num(cfg["weight_decay"]), "init": _num(meta.get("init")),
            "momentum": _num(cfg.get("momentum"))}


DONE = ("finished", "diverged")  # run statuses in manifest.json that have results


def load_runs(run_dir):
    """(manifest, [run dict]) for the runs manifest.json lists as done; nothing else in the
    folder is read (a stale folder from another sweep never enters the report). Raises
    ValueError when the manifest lists no runs or names a folder outside run_dir."""
    manifest = read_json(os.path.join(run_dir, "manifest.json"))
    listed = manifest.get("runs")
    if not isinstance(listed, list):
        raise ValueError(f"{os.path.join(run_dir, 'manifest.json')} lists no runs "
                         "(missing, not written by paper, or by an older paper)")
    msettings = {s.get("name"): s for s in manifest.get("settings", []) if isinstance(s, dict)}
    classes = manifest.get("data", {}).get("classes") if isinstance(manifest.get("data"), dict) else None
    n_classes = len(classes) if isinstance(classes, list) and len(classes) >= 2 else 2
    runs = []
    for entry in listed:
        if not isinstance(entry, dict) or entry.get("status") not in DONE:
            continue
        folder, name = str(entry.get("folder", "")), str(entry.get("setting", ""))
        parts = folder.split("/")
        if (os.path.isabs(folder) or len(parts) not in (2, 3) or ".." in parts or "" in parts
                or not parts[1].startswith("init_") or (len(parts) == 3 and not re.fullmatch(r"seed_[0-9]+", parts[2]))):
            raise ValueError(f"manifest.json: run folder {folder!r} is not <setting>/init_<scale> "
                             "or <setting>/init_<scale>/seed_<seed>")
        rdir = os.path.join(run_dir, *parts)
        lab = parts[1]
        summary = read_json(os.path.join(rdir, "summary.json"))
        obs, header = read_csv_columns(os.path.join(rdir, "observations.csv"))
        margins, mheader = read_csv_columns(os.path.join(rdir, "margins.csv"))
        flow, _ = read_csv_columns(os.path.join(rdir, "flow.csv"))  # gradient-flow runs only
        ms = msettings.get(name, {})
        conf = _run_config(summary, rdir)
        final = summary.get("final") or {h: obs[h][-1] for h in header if obs[h]}
        seed = entry.get("seed", (summary.get("meta") or {}).get("seed"))
        runs.append({
            "setting": name,
            "label": lab,
            "seed": seed if isinstance(seed, int) else None,
            "label_seed": len(parts) == 3,  # the sweep has several seeds: labels name them
            "init": conf["init"],
            "bn": conf["bn"],
            "wd": conf["wd"],
            "momentum": conf["momentum"],
            "diverged": bool(summary.get("diverged", False)),
            "final": {k: _num(v) for k, v in final.items()},
            "series": obs,
            "columns": header,
            "margins": margins,
            "margin_columns": [h for h in mheader if h.startswith("q")],
            "scale_invariant_layers": summary.get("scale_invariant_layers") or [],
            "factoring_layers": summary.get("factoring_layers") or [],
            "flow": flow,
            "classes": n_classes,
            "summary": summary,
            "manifest_setting": ms,
        })
    return manifest, runs


# ---- figures ---------------------------------------------------------------------------
def _init_cell(run):
    """The init column of a table: the scale, and the seed when the sweep has several."""
    return run["label"][5:] + (f", seed {run['seed']}" if run.get("label_seed") else "")


def _time(run):
    """Log-time axis of the paper: iterations + 1 (so the init observation sits at 1)."""
    return np.asarray(run["series"].get("iter", []), dtype=float) + 1.0


def _arr(run, key):
    return np.asarray(run["series"].get(key, []), dtype=float)


def _norm_columns(run):
    cols = [c for c in run["columns"] if c.startswith("norm_") and c[5:].isdigit()]
    return sorted(cols, key=lambda c: int(c[5:]))


def _row_title(run):
    t = f"{run['setting']}, init {run['label'][5:]}"
    if run["diverged"]:
        t += f" (diverged at {run['summary'].get('diverged_at')})"
    return t


def _positive(a):
    a = a[np.isfinite(a)]
    return a.size > 0 and np.all(a > 0)


def _grid(nrows, ncols, title):
    width = max(8.0, 5.5 * ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, 3.3 * nrows + 0.4), squeeze=False)
    fig.suptitle(textwrap.fill(title, int(width * 11)), fontsize=10)
    return fig, axes


def _save(fig, run_dir, name):
    fig.tight_layout()
    path = os.path.join(run_dir, FIGDIR, name)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return os.path.join(FIGDIR, name)


def fig_loss_error(runs, run_dir, setting):
    fig, ax = _grid(len(runs), 2, f"{setting}: (a) square loss and error vs epoch")
    for i, r in enumerate(runs):
        ep = _arr(r, "epoch")
        for key, style in (("train_loss", "-"), ("test_loss", "--")):
            ax[i, 0].plot(ep, _arr(r, key), style, label=key.replace("_", " "))
        for key, style in (("train_error", "-"), ("test_error", "--")):
            ax[i, 1].plot(ep, _arr(r, key), style, label=key.replace("_", " "))
        if _positive(np.concatenate([_arr(r, "train_loss"), _arr(r, "test_loss")])):
            ax[i, 0].set_yscale("log")
        ax[i, 0].set_title(_row_title(r) + ": loss")
        ax[i, 1].set_title(_row_title(r) + ": error")
        ax[i, 0].set_ylabel("mean square loss")
        ax[i, 1].set_ylabel("fraction misclassified")
        for a in ax[i]:
            a.set_xlabel("epoch")
            a.legend(fontsize=7)
    return _save(fig, run_dir, f"{setting}-a-loss-error.png")


def fig_rho(runs, run_dir, setting):
    fig, ax = _grid(len(runs), 1, f"{setting}: (b) rho (compile-time factored) vs rho_eq; "
                                  "rho_all, rho_bn on the right axis")
    for i, r in enumerate(runs):
        t, a = _time(r), ax[i, 0]
        rho, eq = _arr(r, "rho"), _arr(r, "rho_eq")
        a.plot(t, rho, "C0-", label="rho (factored layers)")
        a.plot(t, eq, "C1:", label="rho_eq = sum yf / (lambda + sum f^2)")
        # rho_eq is huge or negative while f ~ 0 early on: bound the axis by rho's own range
        # so the rise and relaxation of rho stay readable.
        fin = rho[np.isfinite(rho)]
        if fin.size:
            late_eq = eq[len(eq) // 2:]
            late_eq = late_eq[np.isfinite(late_eq)]
            top = max(fin.max(), late_eq.max() if late_eq.size else 0.0)
            a.set_ylim(min(0.0, fin.min()), 1.15 * top if top > 0 else 1.0)
        a.set_xscale("log")
        a.set_xlabel("iteration + 1")
        a.set_ylabel("rho")
        a.set_title(_row_title(r))
        b = a.twinx()  # rho_all (and rho_bn) live on other scales
        b.plot(t, _arr(r, "rho_all"), "C2--", label="rho_all (all layers)")
        if "rho_bn" in r["series"] and np.isfinite(_arr(r, "rho_bn")).any():
            b.plot(t, _arr(r, "rho_bn"), "C3-.", label="rho_bn (BN-aware)")
        if _positive(np.concatenate([_arr(r, "rho_all"), _arr(r, "rho_bn")])):
            b.set_yscale("log")
        b.set_ylabel("rho_all, rho_bn")
        h1, l1 = a.get_legend_handles_labels()
        h2, l2 = b.get_legend_handles_labels()
        a.legend(h1 + h2, l1 + l2, fontsize=7, loc="best")
    return _save(fig, run_dir, f"{setting}-b-rho.png")


def fig_mean_abs_f(runs, run_dir, setting):
    fig, ax = _grid(len(runs), 1, f"{setting}: (c) mean |f_n| of the unit-norm network")
    for i, r in enumerate(runs):
        a = ax[i, 0]
        a.plot(_time(r), _arr(r, "mean_abs_f"), "C0-")
        a.set_xscale("log")
        if _positive(_arr(r, "mean_abs_f")):
            a.set_yscale("log")
        a.set_xlabel("iteration + 1")
        a.set_ylabel("mean |f_n| (train)")
        a.set_title(_row_title(r))
    return _save(fig, run_dir, f"{setting}-c-mean-abs-f.png")


def _profile_rows(n):
    """About N_MARGIN_PROFILES observation indices, evenly spaced in log-index, incl. ends."""
    if n <= N_MARGIN_PROFILES:
        return list(range(n))
    idx = np.unique(np.round(np.geomspace(1, n, N_MARGIN_PROFILES)).astype(int) - 1)
    return sorted(set([0, n - 1] + idx.tolist()))


def _margin_name(run):
    """The margin of a sample: y_n f_n for two classes, f_y - max_{c != y} f_c for more."""
    return "y_n f_n" if run.get("classes", 2) <= 2 else "f_y - max_{c!=y} f_c"


def fig_margins(runs, run_dir, setting):
    fig, ax = _grid(len(runs), 1, f"{setting}: (d) sorted margins {_margin_name(runs[0])} of all training "
                                  "samples (101 quantiles)")
    for i, r in enumerate(runs):
        a = ax[i, 0]
        m, qcols = r["margins"], r["margin_columns"]
        n = len(m.get("iter", []))
        if n and qcols:
            rows = _profile_rows(n)
            # profiles are picked evenly in log time, so colour on a log scale of iter + 1
            t = np.asarray(m["iter"], dtype=float)[rows] + 1.0
            norm = matplotlib.colors.LogNorm(t.min(), max(t.max(), t.min() * 1.0001))
            cmap = plt.get_cmap("viridis")
            pct = np.linspace(0, 100, len(qcols))
            for j, tj in zip(rows, t):
                a.plot(pct, [m[q][j] for q in qcols], color=cmap(norm(tj)), lw=1.2)
            sm = plt.cm.ScalarMappable(cmap=cmap, norm=norm)
            fig.colorbar(sm, ax=a, label="iteration + 1")
        a.axhline(0.0, color="grey", lw=0.6)
        a.set_xlabel("quantile of training samples (%)")
        a.set_ylabel(f"margin {_margin_name(r)}")
        a.set_title(_row_title(r))
    return _save(fig, run_dir, f"{setting}-d-margins.png")


def fig_collapse(runs, run_dir, setting):
    fig, ax = _grid(len(runs), 2, f"{setting}: (e) neural collapse on the last layer's input")
    for i, r in enumerate(runs):
        t = _time(r)
        nc1 = _arr(r, "nc1")
        ax[i, 0].plot(t, nc1, "C0-")
        if _positive(nc1):
            ax[i, 0].set_yscale("log")
        ax[i, 0].set_ylabel("NC1 = Tr(S_W S_B^+)/C")
        ax[i, 1].plot(t, _arr(r, "nc3"), "C1-", label="NC3 (classifier vs class-mean alignment)")
        ax[i, 1].plot(t, _arr(r, "nc4"), "C2--", label="NC4 (NCC disagreement)")
        right = "NC3, NC4"
        if r.get("classes", 2) > 2:  # equal norms and equal angles of the class means (a simplex ETF)
            for key, style, label in (("nc2", "C3:", "NC2 (std/mean of class-mean norms)"),
                                      ("nc2_cos", "C4-.", "NC2 angles (mean |cos + 1/(C-1)|)")):
                if len(_arr(r, key)) == len(t):
                    ax[i, 1].plot(t, _arr(r, key), style, label=label)
            right = "NC2, NC3, NC4"
        ax[i, 1].set_ylabel(right)
        ax[i, 1].legend(fontsize=7)
        for a, what in zip(ax[i], ("NC1", right)):
            a.set_xscale("log")
            a.set_xlabel("iteration + 1")
            a.set_title(f"{_row_title(r)}: {what}")
    return _save(fig, run_dir, f"{setting}-e-collapse.png")


def fig_norms(runs, run_dir, setting):
    fig, ax = _grid(len(runs), 1, f"{setting}: (f) Frobenius norm of each weight layer")
    for i, r in enumerate(runs):
        a = ax[i, 0]
        inv = set(r["scale_invariant_layers"])
        vals = []
        for c in _norm_columns(r):
            k = int(c[5:])
            y = _arr(r, c)
            vals.append(y)
            a.plot(_time(r), y, "-" if k in inv else "--",
                   label=f"rho_{k}" + (" (BN scale-invariant)" if k in inv else ""))
        a.set_xscale("log")
        if vals and _positive(np.concatenate(vals)):
            a.set_yscale("log")
        a.set_xlabel("iteration + 1")
        a.set_ylabel("||W_k||_F")
        a.set_title(_row_title(r))
        if vals:
            a.legend(fontsize=7)
    return _save(fig, run_dir, f"{setting}-f-norms.png")


def _pos(xs):
    """Values for a log axis: non-positive ones become gaps."""
    a = np.asarray(xs, dtype=float)
    return np.where(a > 0, a, np.nan)


def fig_flow(run, run_dir):
    """A gradient-flow run: rho against rho_eq (train mode), and the residuals of the norm
    equations (radial identity, flow) per layer, against tau."""
    fl = run["flow"]
    tau = np.asarray(fl.get("tau", []), dtype=float)
    fig, ax = _grid(1, 3, f"{run['setting']}, init {_init_cell(run)}: gradient flow")
    a = ax[0][0]
    a.plot(tau, fl.get("rho", []), label="rho")
    a.plot(tau, fl.get("rho_eq", []), "--", label="rho_eq")
    a.set_xscale("symlog", linthresh=max(tau[1] if len(tau) > 1 else 1e-3, 1e-6))
    a.set_yscale("log")
    a.set_xlabel("tau = sum of lr")
    a.set_title("rho and rho_eq (train mode)")
    a.legend(fontsize=7)
    layers = verdicts._flow_layers(run)
    for panel, key, title in ((1, "radial_res", "radial identity residual"), (2, "flow_res", "flow residual")):
        a = ax[0][panel]
        for k in layers:
            ys = _pos(fl.get(f"{key}_{k}", []))
            kind = "BN-preceded" if k in run["scale_invariant_layers"] else "factoring"
            a.plot(tau, ys, label=f"layer {k} ({kind})")
        if key == "flow_res":
            for k in layers:
                a.plot(tau, _pos(fl.get(f"step_res_{k}", [])), ":", lw=0.8,
                       color=a.lines[layers.index(k)].get_color())
        a.set_xscale("symlog", linthresh=max(tau[1] if len(tau) > 1 else 1e-3, 1e-6))
        a.set_yscale("log")
        a.set_xlabel("tau")
        a.set_title(title + (" (dotted: one step)" if key == "flow_res" else ""))
        a.legend(fontsize=6)
    seed = f"-seed_{run['seed']}" if run.get("label_seed") else ""
    return _save(fig, run_dir, f"{run['setting']}-{run['label']}{seed}-flow.png")


def fig_summary(runs, run_dir):
    """Prediction 9: final test error against final rho, one point per run."""
    fig, a = plt.subplots(figsize=(6.5, 4.5))
    settings = list(dict.fromkeys(r["setting"] for r in runs))
    xs = []
    for si, s in enumerate(settings):
        for r in (r for r in runs if r["setting"] == s):
            f = r["final"]
            rho, te = f.get("rho", math.nan), f.get("test_error", math.nan)
            if r["diverged"] or not (np.isfinite(rho) and np.isfinite(te)):
                continue
            interp = f.get("train_error", 1.0) <= verdicts.P9_INTERPOLATION_TRAIN_ERROR
            c = f"C{si % 10}"
            a.scatter([rho], [te], marker="o", edgecolors=c, facecolors=c if interp else "none", s=45)
            a.annotate(f"init {r['label'][5:]}", (rho, te), fontsize=7,
                       xytext=(4, 3), textcoords="offset points")
            xs.append(rho)
    for si, s in enumerate(settings):  # legend entries per setting
        a.scatter([], [], color=f"C{si % 10}", label=s)
    a.scatter([], [], facecolors="none", edgecolors="k", label="not interpolating (open)")
    if xs and min(xs) > 0 and max(xs) / min(xs) > 20:
        a.set_xscale("log")
    a.set_xlabel("final rho (compile-time factored)")
    a.set_ylabel("final test error")
    a.set_title("Prediction 9: test error vs final rho (filled = train error 0)")
    a.legend(fontsize=7)
    return _save(fig, run_dir, "summary-rho-vs-test-error.png")


def fig_seeds(runs, run_dir):
    """Several seeds: the final values of every setting and init, one point per seed, and
    their mean with one sample standard deviation either side."""
    keys = (("rho", "final rho"), ("test_error", "final test error"), ("train_error", "final train error"))
    groups = verdicts.seed_spread(runs, [k for k, _ in keys])
    fig, ax = _grid(1, len(keys), f"Final values over {len(verdicts.seeds_of(runs))} seeds "
                    "(dots: seeds; bars: mean ± sample standard deviation)")
    names = [f"{setting}\ninit {_cell(init)}" for setting, init, _, _ in groups]
    for panel, (key, title) in enumerate(keys):
        a = ax[0][panel]
        for i, (setting, init, _, stats) in enumerate(groups):
            ys = [verdicts._final(r, key) for r in runs
                  if r["setting"] == setting and r["init"] == init and not r["diverged"]]
            ys = [y for y in ys if y is not None and math.isfinite(y)]
            a.scatter([i] * len(ys), ys, s=12, color="C0", alpha=0.6)
            mean, sd = stats[key][0], stats[key][1]
            if math.isfinite(mean):
                a.errorbar([i + 0.2], [mean], yerr=[[sd if math.isfinite(sd) else 0]] * 2, fmt="s", color="C3",
                           ms=4, capsize=3)
        a.set_xticks(range(len(names)))
        few = len(names) <= 6
        a.set_xticklabels(names, fontsize=7 if few else 6, rotation=0 if few else 60, ha="center" if few else "right")
        a.set_xlim(-0.5, len(names) - 0.3)
        vals = [v for _, _, _, st in groups for v in st[key][2:4] if math.isfinite(v)]
        if key == "rho" and vals and min(vals) > 0 and max(vals) / min(vals) > 20:
            a.set_yscale("log")
        a.set_title(title)
    return _save(fig, run_dir, "seeds-final-values.png")


# ---- REPORT.md -------------------------------------------------------------------------
def _cell(x):
    """A markdown table cell: numbers short, pipes escaped, no newlines."""
    if isinstance(x, bool) or x is None:
        s = {True: "yes", False: "no", None: ""}[x]
    elif isinstance(x, float):
        s = f"{x:.4g}" if math.isfinite(x) else str(x)
    elif isinstance(x, (list, dict)):
        s = json.dumps(x)
    else:
        s = str(x)
    return s.replace("|", "\\|").replace("\n", " ")


def _table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out


def neural_collapse_section(runs):
    """Markdown lines: NC1-NC4 at the start and end of every (non-flow) run."""
    judged = [r for r in runs if not r["flow"] and r["series"].get("nc1")]
    if not judged:
        return []
    C = max(r.get("classes", 2) for r in judged)
    L = ["## Neural collapse", ""]
    L.append(f"On the features h entering the last layer, over the training set, with {C} classes "
             "(Papyan, Han and Donoho's definitions; mu_G is the global mean over all samples). NC1 = "
             "Tr(Sigma_W Sigma_B^+)/C (within-class variability against between-class, -> 0); NC2 = "
             "std/mean of ||mu_c - mu_G|| (equal norms, -> 0) and mean |cos(mu_c - mu_G, mu_c' - mu_G) + "
             "1/(C-1)| (equal angles of a simplex, -> 0; for C = 2 it is 0 by construction); NC3 = "
             "distance of the normalised classifier from the normalised class means (-> 0); NC4 = "
             "fraction of samples where the nearest class mean disagrees with the network (-> 0). "
             "Prediction 8 judges NC1 and NC4.")
    L.append("")
    rows = []
    for r in judged:
        nc1 = [v for v in r["series"]["nc1"] if verdicts._finite(v)]
        fall = max(nc1) / nc1[-1] if nc1 and nc1[-1] > 0 else float("nan")
        last = lambda k: (r["series"].get(k) or [float("nan")])[-1]  # noqa: E731
        rows.append([r["setting"], _init_cell(r), r.get("classes", 2), "yes" if r["wd"] else "no",
                     nc1[0] if nc1 else float("nan"), last("nc1"), fall, last("nc2"), last("nc2_cos"),
                     last("nc3"), last("nc4"), last("train_error")])
    L += _table(["setting", "init", "C", "WD", "NC1 start", "NC1 end", "NC1 fall (max/end)", "NC2 norms end",
                 "NC2 angles end", "NC3 end", "NC4 end", "train err end"], rows)
    L.append("")
    return L


def seeds_section(runs, verdict_rows):
    """Markdown lines, with several seeds: each prediction's verdicts counted over the seeds,
    and the mean and spread over seeds of the final values of every setting and init."""
    seeds = verdicts.seeds_of(runs)
    if len(seeds) < 2:
        return []
    L = ["## Seeds", ""]
    L.append(f"Every setting and init was trained with {len(seeds)} seeds ({', '.join(map(str, seeds))}): the "
             "seed draws the initial weights and the order of the batches.")
    L.append("")
    kinds = (verdicts.CONFIRMED, verdicts.NOT_CONFIRMED, verdicts.INCONCLUSIVE, verdicts.NOT_REACHED)
    L += _table(["#"] + list(kinds),
                [[n] + [sum(w.verdict == k for _, w in parts) for k in kinds] for n, _, _, parts in verdict_rows])
    L.append("")
    L.append("Final values over the seeds: mean ± sample standard deviation [min, max]; n = runs that have "
             "the value (diverged runs are left out).")
    L.append("")
    keys = verdicts.SEED_SPREAD_KEYS
    rows = []
    for setting, init, n, stats in verdicts.seed_spread([r for r in runs if not r["flow"]], keys):
        cells = []
        for k in keys:
            mean, sd, lo, hi, m = stats[k]
            cells.append("n/a" if m == 0 else f"{mean:.4g} ± {sd:.2g} [{lo:.4g}, {hi:.4g}]" + ("" if m == n else f" (n={m})"))
        rows.append([setting, init, n] + cells)
    L += _table(["setting", "init", "seeds"] + list(keys), rows)
    L.append("")
    return L


def write_report(run_dir, manifest, runs, figures, verdict_rows):
    L = ["# rhonet: Poggio & Liao experiments, report", ""]
    L.append(f"Run folder: `{os.path.abspath(run_dir)}`. Generated by `examples/paper/report.py`; "
             "the verdicts are computed from the measured numbers by `examples/paper/verdicts.py`.")
    L.append("")
    L += ["## Run", ""]
    for key in ("command", "started", "preset", "seconds", "diverged_runs"):
        if key in manifest:
            L.append(f"- **{key}**: `{_cell(manifest[key])}`")
    data = manifest.get("data")
    if isinstance(data, dict):
        L.append("- **data**: " + ", ".join(f"{k} = {_cell(v)}" for k, v in data.items()))
    if isinstance(manifest.get("machine"), dict):
        L.append("- **machine**: " + ", ".join(f"{k} = {_cell(v)}" for k, v in manifest["machine"].items()))
    for k, v in manifest.items():
        if k not in ("command", "started", "preset", "seconds", "diverged_runs", "data", "machine", "settings",
                     "runs", "config", "program"):
            L.append(f"- **{k}**: {_cell(v)}")
    L.append("")

    L += ["## Settings and runs", ""]
    rows = []
    for r in runs:
        s, ms = r["summary"], r["manifest_setting"]
        g = lambda k: s.get(k, ms.get(k))  # noqa: E731
        f = r["final"]
        div = "no"
        if r["diverged"]:
            div = f"yes, at {s.get('diverged_at')}"
        rows.append([r["setting"], _init_cell(r), g("arch"), r["bn"], r["wd"], g("lr"), g("momentum"),
                     g("batch"), g("epochs"), g("outputs"), g("seed"), s.get("seconds"), div,
                     f.get("train_error"), f.get("test_error"), f.get("rho"), f.get("rho_all"),
                     f.get("rho_bn")])
    L += _table(["setting", "init", "arch", "BN", "WD", "lr", "momentum", "batch", "epochs", "outputs",
                 "seed", "wall s", "diverged", "train err", "test err", "rho", "rho_all", "rho_bn"], rows)
    L.append("")
    L.append("rho = product of the norms of the layers the output is homogeneous in (compile-time "
             "factoring, used in figures (b) solid and in every verdict); rho_all = plain product of all "
             "layer norms (figure (b), dashed, right axis); rho_bn = the group's BN-aware rho "
             "(figure (b), dash-dot, right axis).")
    L.append("")

    L += ["## Regimes", ""]
    L.append("The predictions are about the end of long training, so each run is judged only if it "
             "reached its regime: a run with weight decay past the plateau of rho (relative change of "
             f"rho over the last {verdicts.LATE_FRACTION:.0%} of the steps <= "
             f"{verdicts.REGIME_MAX_RHO_CHANGE:.0%}), a run without weight decay interpolating (train "
             "error 0). A prediction whose runs did not reach it is *inconclusive: regime not reached*.")
    L.append("")
    reg_rows = []
    for r in (r for r in runs if not r["flow"]):
        test, reached, why = verdicts.regime(r)
        reg_rows.append([r["setting"], _init_cell(r), test,
                         "**yes**" if reached else ("no" if reached is not None else "cannot tell"), why])
    L += _table(["setting", "init", "regime", "reached", "by the test"], reg_rows)
    L.append("")

    L += ["## Predictions", ""]
    seeds = verdicts.seeds_of(runs)
    if len(seeds) == 1:
        L += _table(["#", "prediction", "measured", "threshold", "verdict"],
                    [[n, text, v.evidence, v.threshold, f"**{v.verdict}**"] for n, text, v, _ in verdict_rows])
    else:
        L.append(f"Judged on the runs of each of the {len(seeds)} seeds alone; the verdict combines the seeds' "
                 "verdicts by the rule below (confirmed only if every seed confirms it). *measured* is the "
                 f"first seed's ({seeds[0]}).")
        L.append("")
        L += _table(["#", "prediction", f"measured (seed {seeds[0]})", "threshold", "verdict",
                     "by seed"],
                    [[n, text, v.evidence, v.threshold, f"**{v.verdict}**",
                      "; ".join(f"{seed}: {w.verdict}" for seed, w in parts)]
                     for n, text, v, parts in verdict_rows])
    L.append("")
    L.append("Rule when a prediction is checked on several runs or settings: any *not confirmed* "
             "wins, else any *inconclusive*, else any *inconclusive: regime not reached*, else "
             "*confirmed*. Diverged runs make their part inconclusive; runs that did not reach their "
             "regime are not judged.")
    L.append("")
    L += seeds_section(runs, verdict_rows)
    L += neural_collapse_section(runs)
    flow_runs = [r for r in runs if r["flow"]]
    if flow_runs:
        L += ["## Gradient flow", ""]
        L.append("The flow settings train by full-batch gradient descent without momentum at a small lr, "
                 "so that the run follows the gradient flow the theory is about; they are checked against "
                 "the theory's equations directly (flow.csv of each run; time tau = sum of the lrs), and are "
                 "not used for the 9 predictions. c = 1/N for the mean loss.")
        L.append("")
        L += _table(["#", "equation", "measured", "threshold", "verdict"],
                    [[n, text, v.evidence, v.threshold, f"**{v.verdict}**"]
                     for n, text, v in verdicts.flow_check_rows(runs)])
        L.append("")
        for r in flow_runs:
            fl = r["flow"]
            rows = []
            for k in verdicts._flow_layers(r):
                kind = "BN-preceded" if k in r["scale_invariant_layers"] else (
                    "factoring" if k in r["factoring_layers"] else "other")
                late = [x for x in verdicts._flow_late(r, fl[f"flow_res_{k}"]) if verdicts._finite(x)]
                step = [x for x in verdicts._flow_late(r, fl[f"step_res_{k}"]) if verdicts._finite(x)]
                rad = [x for x in fl[f"radial_res_{k}"] if verdicts._finite(x)]
                rows.append([k, kind, fl[f"rho_{k}"][0], fl[f"rho_{k}"][-1], verdicts._median(rad),
                             max(late) if late else float("nan"), max(step) if step else float("nan")])
            L.append(f"**{r['setting']}, init {_init_cell(r)}** ({int(fl['iter'][-1])} steps, tau "
                     f"{fl['tau'][-1]:.4g}; train mode at the end: rho {fl['rho'][-1]:.4g}, rho_eq "
                     f"{fl['rho_eq'][-1]:.4g}, Lemma 1 residual {fl['lemma1_res'][-1]:.3g})")
            L.append("")
            L += _table(["layer", "kind", "rho_k start", "rho_k end", "median radial_res",
                         "late max flow_res", "late max one-step res"], rows)
            L.append("")
    L += ["### Thresholds (constants in verdicts.py)", ""]
    for name in sorted(dir(verdicts)):
        if (name[:1] == "P" and name[1:2].isdigit() or name == "LATE_FRACTION" or name.startswith("REGIME_")
                or name.startswith("FLOW_MAX") or name == "FLOW_LATE_FRACTION"):
            L.append(f"- `{name}` = {getattr(verdicts, name)}")
    L.append("")

    L += ["## Figures", ""]
    for path, caption in figures:
        L += [f"### {caption}", "", f"![{caption}]({path})", ""]
    with open(os.path.join(run_dir, "REPORT.md"), "w") as fh:
        fh.write("\n".join(L))


PANELS = [
    (fig_loss_error, "(a) train/test loss and error"),
    (fig_rho, "(b) rho against rho_eq"),
    (fig_mean_abs_f, "(c) mean |f_n|"),
    (fig_margins, "(d) margin profiles"),
    (fig_collapse, "(e) neural collapse"),
    (fig_norms, "(f) layer norms"),
]


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    run_dir = argv[1]
    try:
        manifest, runs = load_runs(run_dir)
    except ValueError as e:
        print(f"report.py: {e}", file=sys.stderr)
        return 1
    if not runs:
        print(f"report.py: manifest.json in {run_dir} lists no finished run", file=sys.stderr)
        return 1
    os.makedirs(os.path.join(run_dir, FIGDIR), exist_ok=True)
    figures = []
    for r in runs:
        if r["flow"].get("tau"):
            figures.append((fig_flow(r, run_dir), f"{r['setting']}, init {_init_cell(r)}: gradient flow"))
    # With several seeds the panels show the first seed's runs (one curve per init stays
    # readable); REPORT.md's seed section gives every seed's final values.
    seeds = verdicts.seeds_of(runs)
    shown = seeds[0]
    for setting in dict.fromkeys(r["setting"] for r in runs if not r["flow"]):
        group = [r for r in runs if r["setting"] == setting and r["series"].get("iter")
                 and (len(seeds) == 1 or r["seed"] == shown)]
        if not group:
            print(f"report.py: {setting}: no observations, no figures", file=sys.stderr)
            continue
        of_seed = f" (seed {shown} of {len(seeds)} seeds)" if len(seeds) > 1 else ""
        for fn, caption in PANELS:
            figures.append((fn(group, run_dir, setting), f"{setting}: {caption}{of_seed}"))
    figures.append((fig_summary([r for r in runs if not r["flow"]], run_dir), "All runs: final test error vs final rho (prediction 9)"))
    if len(seeds) > 1:
        figures.append((fig_seeds([r for r in runs if not r["flow"]], run_dir),
                        "All settings and inits: final values over the seeds"))
    write_report(run_dir, manifest, runs, figures, verdicts.verdicts_by_seed(runs))
    print(f"report.py: wrote {os.path.join(run_dir, 'REPORT.md')} and {len(figures)} figures")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
