#!/usr/bin/python3
"""Verdicts on the 9 predictions of the theory (docs/observables.md), computed from measured numbers.

Pure functions, no I/O, no numpy: each ``prediction_k(runs)`` takes a list of *run dicts*
and returns a ``Verdict(verdict, evidence, threshold)``. A run dict is small:

    {"setting": "fc-bn-wd",          # folder name of the setting
     "bn": True, "wd": 0.01,         # batch norm on?  weight decay (0 = none)
     "momentum": 0.9,                # SGD momentum (P6 is exact only at 0)
     "init": 0.1,                    # init Frobenius norm of every layer
     "diverged": False,
     "final": {"rho": .., "test_error": .., ...},   # last observation (summary.json "final")
     "series": {"iter": [..], "rho": [..], "rho_eq": [..], "norm_1": [..], ...},  # observations.csv
     "scale_invariant_layers": [1, 2, 3],           # 1-based, into norm_1..norm_K
     "seed": 1}                      # optional: the run's seed, when the sweep has several

Only the keys a prediction needs must be present. Every threshold is a named constant below;
report.py prints them.

The predictions are about the end of long training. Each run is judged in its *regime* only
if it reached it (``regime(run)``): a run with weight decay must be past the plateau of rho
(its relative change over the last quarter of the steps below REGIME_MAX_RHO_CHANGE), a run
without weight decay must interpolate (train error 0). A run that did not reach its regime
makes its part "inconclusive: regime not reached", never "not confirmed".

Combination rule when a prediction is checked on several runs or settings: any "not
confirmed" wins, else any "inconclusive", else any "inconclusive: regime not reached", else
"confirmed" (a failure on the runs that could be judged is evidence against, whatever
happened to the others).

Several seeds (``paper --seeds N``): every prediction is judged on each seed's runs alone
(``verdicts_by_seed``), and the verdicts of the seeds combine by the same rule: a prediction
is confirmed only if it is confirmed for every seed.
"""

import math
from collections import namedtuple

CONFIRMED = "confirmed"
NOT_CONFIRMED = "not confirmed"
INCONCLUSIVE = "inconclusive"
NOT_REACHED = "inconclusive: regime not reached"

Verdict = namedtuple("Verdict", "verdict evidence threshold")

# ---- thresholds ------------------------------------------------------------------------
REGIME_MAX_RHO_CHANGE = 0.05     # WD runs: |rho(end) - rho(3/4 of the steps)| / rho(end)
REGIME_INTERPOLATION_TRAIN_ERROR = 0.0  # runs without WD: final train_error <= this
P1_MAX_RHO_SPREAD = 1.5          # max/min of final rho across inits (BN + WD)
P1_MAX_TEST_ERROR_SPREAD = 0.02  # max - min of final test error across inits
P3_MAX_REL_DEVIATION = 0.2       # median |rho - rho_eq| / rho_eq over the last quarter
LATE_FRACTION = 0.25             # "late training" = the last quarter of the steps
P4_RHO_MARGIN_RANGE = (0.5, 2.0) # rho * mean(y f) at the end must fall in this range
P5_SMALL_INIT_MAX = 0.1          # "small init": init Frobenius norm <= this
P5_MIN_RELAXATION = 0.05         # final rho at least 5 % below the peak
P5_MAX_PLATEAU_VARIATION = 0.10  # (max - min) / mean of rho over the last quarter
P6_MAX_REL_DECREASE = 1e-6       # allowed relative drop of a BN-invariant layer's norm per step
P7_MAX_FINAL_NORM_RATIO = 1.5    # max_k rho_k / min_k rho_k at the end (WD, no BN)
P8_MIN_NC1_FALL = 10.0           # max(nc1) / nc1(end) in every WD run
P8_MAX_FINAL_NC4 = 0.05          # nearest-class-mean disagreement at the end
P9_MIN_RUNS = 3                  # interpolating runs needed for a rank correlation
P9_INTERPOLATION_TRAIN_ERROR = REGIME_INTERPOLATION_TRAIN_ERROR  # "interpolates"

PREDICTIONS = {
    1: "BN + WD: final rho and test error nearly independent of the init scale.",
    2: "No BN, no WD: final rho grows with the init scale; large init gives worse test error.",
    3: "BN + WD: rho tracks rho_eq late in training, once f separates the data on average.",
    4: "Margins concentrate: CV of the margins (y_n f_n; f_y - max_{c!=y} f_c for C > 2) falls; "
       "rho * mean margin -> ~1.",
    5: "Small init, BN + WD: rho rises fast, peaks, then relaxes to a plateau.",
    6: "BN without WD: norms of BN-preceded layers never decrease under plain SGD (momentum 0); "
       "more init dependence.",
    7: "WD without BN: layer norms become equal (max/min ratio -> 1).",
    8: "Neural collapse with WD: NC1 falls by orders of magnitude, NCC agrees with the net; weaker without WD.",
    9: "Across interpolating runs, test error grows with final rho.",
}

THRESHOLDS = {
    1: f"spread max/min of final rho <= {P1_MAX_RHO_SPREAD} and max-min of final test error "
       f"<= {P1_MAX_TEST_ERROR_SPREAD} (per BN+WD setting, >= 2 inits, none diverged)",
    2: "final rho strictly increasing with init, and test error at the largest init >= at the "
       "smallest (per no-BN no-WD setting, >= 2 inits, none diverged)",
    3: f"median over the observations of the last {LATE_FRACTION:.0%} of the steps where "
       f"rho_eq > 0 (f separates the data on average) of |rho - rho_eq| / rho_eq <= "
       f"{P3_MAX_REL_DEVIATION} (every BN+WD run; none of those observations: inconclusive)",
    4: f"margin_cv at the end < at the first post-init observation (cv counted as infinite "
       f"while mean margin <= 0), and rho_margin_mean at the end in "
       f"[{P4_RHO_MARGIN_RANGE[0]}, {P4_RHO_MARGIN_RANGE[1]}] (every WD run past its plateau)",
    5: f"init <= {P5_SMALL_INIT_MAX}, BN+WD: peak of rho above its initial value and before the "
       f"last {LATE_FRACTION:.0%} of the steps; final rho <= (1 - {P5_MIN_RELAXATION}) * peak; "
       f"(max - min) / mean over the last {LATE_FRACTION:.0%} of the steps <= {P5_MAX_PLATEAU_VARIATION}",
    6: f"every scale-invariant layer's norm drops by <= {P6_MAX_REL_DECREASE:g} (relative) "
       "between consecutive observations in every BN run without WD and with momentum 0 (runs "
       "with momentum: the largest drop is reported as a measured deviation, not judged), and "
       "spread max/min of final rho across inits of each BN no-WD setting larger than the "
       "BN+WD setting's",
    7: f"final norm_ratio <= {P7_MAX_FINAL_NORM_RATIO} in every WD run without BN past its plateau",
    8: f"max(nc1) / nc1(end) >= {P8_MIN_NC1_FALL} and nc4(end) <= {P8_MAX_FINAL_NC4} in every "
       "WD run past its plateau; median nc1 fall of interpolating no-WD runs < median of WD runs",
    9: f"Spearman correlation of final rho and final test error > 0 over the runs with final "
       f"train_error <= {P9_INTERPOLATION_TRAIN_ERROR} (>= {P9_MIN_RUNS} runs, diverged excluded)",
}


# ---- helpers ---------------------------------------------------------------------------
def _finite(x):
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def _fmt(x):
    if x is None:
        return "n/a"
    if isinstance(x, float):
        if not math.isfinite(x):
            return str(x)
        return f"{x:.4g}"
    return str(x)


def _label(run):
    seed = f"#seed{run['seed']}" if run.get("label_seed") and "seed" in run else ""
    return f"{run.get('setting', '?')}@{_fmt(run.get('init'))}{seed}"


def _final(run, key):
    """Last measured value of a column: summary's final row, else the series' last entry."""
    v = (run.get("final") or {}).get(key)
    if v is None:
        s = (run.get("series") or {}).get(key) or []
        v = s[-1] if s else None
    return float(v) if v is not None else None


def _series(run, key):
    return [float(v) for v in (run.get("series") or {}).get(key) or []]


def _late_start(run, n):
    """Index of the first of the n observations made in the last LATE_FRACTION of the steps
    (by the "iter" column; by count when a run has none). At least the last observation."""
    it = _series(run, "iter")
    if len(it) != n or n == 0:
        return max(0, n - max(1, int(math.ceil(n * LATE_FRACTION))))
    t = (1.0 - LATE_FRACTION) * it[-1]
    return min(next(i for i, v in enumerate(it) if v >= t), n - 1)


def _late(run, xs):
    """The observations of a series made in the last LATE_FRACTION of the steps."""
    return xs[_late_start(run, len(xs)):]


# ---- regimes ---------------------------------------------------------------------------
def regime(run):
    """(test, reached, evidence) of the regime the run is judged in: "plateau" for a run with
    weight decay (rho stopped moving), "interpolation" for one without (train error 0);
    reached is None when it cannot be told (diverged, too few observations)."""
    if run.get("diverged"):
        return ("plateau" if _has_wd(run) else "interpolation"), None, "diverged"
    if _has_wd(run):
        rho = _series(run, "rho")
        it = _series(run, "iter")
        if len(rho) < 2 or len(it) != len(rho) or not all(_finite(v) for v in rho):
            return "plateau", None, "fewer than 2 finite observations"
        if rho[-1] <= 0:
            # Weight decay won: the weights shrank until their products (rho, the outputs)
            # were 0 in float; f = g / rho is undefined from there. A fixed point, but not
            # the one the predictions are about.
            first = next(i for i in range(len(rho)) if all(v <= 0 for v in rho[i:]))
            return ("plateau", False,
                    f"collapsed: rho = 0 from step {int(it[first])} on (weight decay drove the network "
                    f"to the zero function; f = g / rho is undefined)")
        # the last observation at or before 3/4 of the steps, so that the whole last quarter
        # lies between the two values compared
        t = (1.0 - LATE_FRACTION) * it[-1]
        start = max(i for i, v in enumerate(it) if v <= t)
        change = abs(rho[-1] - rho[start]) / rho[-1]
        return ("plateau", change <= REGIME_MAX_RHO_CHANGE,
                f"rho changed {change:.1%} over the last {LATE_FRACTION:.0%} of the steps "
                f"({_fmt(rho[start])} at step {int(it[start])} -> {_fmt(rho[-1])} at step {int(it[-1])}; "
                f"bound {REGIME_MAX_RHO_CHANGE:.0%})")
    err = _final(run, "train_error")
    if not _finite(err):
        return "interpolation", None, "no final train error"
    return ("interpolation", err <= REGIME_INTERPOLATION_TRAIN_ERROR,
            f"final train error {_fmt(err)} (bound {REGIME_INTERPOLATION_TRAIN_ERROR})")


def _unjudged(run):
    """None if the run reached its regime, else the (verdict, evidence) part it gives."""
    test, reached, why = regime(run)
    if reached:
        return None
    if reached is None:
        return INCONCLUSIVE, f"{_label(run)}: {why}"
    return NOT_REACHED, f"{_label(run)}: {test} not reached: {why}"


def _median(xs):
    ys = sorted(xs)
    n = len(ys)
    if n == 0:
        return float("nan")
    return ys[n // 2] if n % 2 else 0.5 * (ys[n // 2 - 1] + ys[n // 2])


def _has_bn(run):
    return bool(run.get("bn"))


def _has_wd(run):
    wd = run.get("wd")
    return _finite(wd) and wd > 0


def _select(runs, bn=None, wd=None):
    out = []
    for r in runs:
        if bn is not None and _has_bn(r) != bn:
            continue
        if wd is not None and _has_wd(r) != wd:
            continue
        out.append(r)
    return out


def _by_setting(runs):
    groups = {}
    for r in runs:
        groups.setdefault(r.get("setting", "?"), []).append(r)
    return {k: sorted(v, key=lambda r: r.get("init", 0.0)) for k, v in sorted(groups.items())}


def _combine(parts, threshold, empty_reason):
    """Merge per-run/per-setting (verdict, evidence) pairs into one Verdict."""
    if not parts:
        return Verdict(INCONCLUSIVE, empty_reason, threshold)
    return Verdict(_worst([v for v, _ in parts]), "; ".join(e for _, e in parts), threshold)


def _spread(values):
    """max/min of positive values; inf when any is <= 0 (a sign flip is no 'near equality')."""
    if not values or any(not _finite(v) for v in values):
        return float("nan")
    lo, hi = min(values), max(values)
    return hi / lo if lo > 0 else float("inf")


def _diverged(group):
    return [_label(r) for r in group if r.get("diverged")]


def _setting_spread(group):
    """(spread of final rho, text) for a setting, or (None, reason) if it cannot be judged."""
    if len(group) < 2:
        return None, "only one init" if group else "no runs"
    bad = _diverged(group)
    if bad:
        return None, f"diverged: {', '.join(bad)}"
    unreached = [_label(r) for r in group if not regime(r)[1]]
    if unreached:
        return None, f"regime not reached: {', '.join(unreached)}"
    rhos = [_final(r, "rho") for r in group]
    s = _spread(rhos)
    if not math.isfinite(s) and s != float("inf"):
        return None, "final rho missing or not finite"
    return s, "final rho " + ", ".join(f"{_fmt(r['init'])}: {_fmt(v)}" for r, v in zip(group, rhos))


def spearman(xs, ys):
    """Spearman rank correlation with average ranks for ties; nan if either side is constant."""
    def ranks(v):
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = 0.5 * (i + j) + 1
            i = j + 1
        return r

    rx, ry = ranks(xs), ranks(ys)
    n = len(xs)
    mx, my = sum(rx) / n, sum(ry) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    if sxx == 0 or syy == 0:
        return float("nan")
    return sxy / math.sqrt(sxx * syy)


def _rho_spread_and_test_errors(name, group):
    """((rho spread, its text, final test errors), None), or (None, an inconclusive part)."""
    s, text = _setting_spread(group)
    if s is None:
        return None, (NOT_REACHED if text.startswith("regime") else INCONCLUSIVE, f"{name}: {text}")
    errs = [_final(r, "test_error") for r in group]
    if any(not _finite(e) for e in errs):
        return None, (INCONCLUSIVE, f"{name}: final test error missing")
    return (s, text, errs), None


# ---- the predictions -------------------------------------------------------------------
def prediction_1(runs):
    parts = []
    for name, group in _by_setting(_select(runs, bn=True, wd=True)).items():
        got, missing = _rho_spread_and_test_errors(name, group)
        if missing:
            parts.append(missing)
            continue
        s, text, errs = got
        de = max(errs) - min(errs)
        ok = s <= P1_MAX_RHO_SPREAD and de <= P1_MAX_TEST_ERROR_SPREAD
        parts.append((CONFIRMED if ok else NOT_CONFIRMED,
                      f"{name}: {text}; rho spread {_fmt(s)}; test error "
                      + ", ".join(_fmt(e) for e in errs) + f" (spread {_fmt(de)})"))
    return _combine(parts, THRESHOLDS[1], "no BN+WD setting was run")


def prediction_2(runs):
    parts = []
    for name, group in _by_setting(_select(runs, bn=False, wd=False)).items():
        got, missing = _rho_spread_and_test_errors(name, group)
        if missing:
            parts.append(missing)
            continue
        _, text, errs = got
        rhos = [_final(r, "rho") for r in group]
        increasing = all(b > a for a, b in zip(rhos, rhos[1:]))
        worse = errs[-1] >= errs[0]
        parts.append((CONFIRMED if increasing and worse else NOT_CONFIRMED,
                      f"{name}: {text} ({'increasing' if increasing else 'not increasing'}); "
                      f"test error init {_fmt(group[0]['init'])}: {_fmt(errs[0])}, "
                      f"init {_fmt(group[-1]['init'])}: {_fmt(errs[-1])}"))
    return _combine(parts, THRESHOLDS[2], "no setting without BN and without WD was run")


def prediction_3(runs):
    parts = []
    for r in _select(runs, bn=True, wd=True):
        lab = _label(r)
        if (u := _unjudged(r)):
            parts.append(u)
            continue
        rho, eq = _series(r, "rho"), _series(r, "rho_eq")
        if len(eq) != len(rho):
            parts.append((INCONCLUSIVE, f"{lab}: rho_eq not measured"))
            continue
        # nothing is claimed where f does not separate the data on average (rho_eq <= 0)
        late = [(a, b) for a, b in zip(_late(r, rho), _late(r, eq)) if b > 0]
        if not late:
            parts.append((INCONCLUSIVE, f"{lab}: f does not separate the data on average late in training"))
            continue
        med = _median([abs(a - b) / b for a, b in late])
        parts.append((CONFIRMED if med <= P3_MAX_REL_DEVIATION else NOT_CONFIRMED,
                      f"{lab}: late median |rho-rho_eq|/rho_eq {_fmt(med)} over {len(late)} observations, "
                      f"final rho {_fmt(rho[-1])} vs rho_eq {_fmt(eq[-1])}"))
    return _combine(parts, THRESHOLDS[3], "no BN+WD run")


def _cv(run, i):
    """Coefficient of variation at observation i; infinite while the mean margin is <= 0."""
    mean = _series(run, "margin_mean")
    cv = _series(run, "margin_cv")
    if mean and not mean[i] > 0:
        return float("inf")
    return cv[i] if _finite(cv[i]) else float("inf")


def prediction_4(runs):
    parts = []
    lo, hi = P4_RHO_MARGIN_RANGE
    for r in _select(runs, wd=True):
        lab = _label(r)
        if (u := _unjudged(r)):
            parts.append(u)
            continue
        cv, rmm = _series(r, "margin_cv"), _series(r, "rho_margin_mean")
        if len(cv) < 3 or not rmm:
            parts.append((INCONCLUSIVE, f"{lab}: fewer than 3 observations"))
            continue
        first, last = _cv(r, 1), _cv(r, -1)
        end = rmm[-1]
        ok = last < first and _finite(end) and lo <= end <= hi
        parts.append((CONFIRMED if ok else NOT_CONFIRMED,
                      f"{lab}: margin cv {_fmt(first)} -> {_fmt(last)}, rho*mean margin at end {_fmt(end)}"))
    return _combine(parts, THRESHOLDS[4], "no run with WD")


def prediction_5(runs):
    parts = []
    cands = [r for r in _select(runs, bn=True, wd=True)
             if _finite(r.get("init")) and r["init"] <= P5_SMALL_INIT_MAX + 1e-12]
    for r in cands:
        lab = _label(r)
        if (u := _unjudged(r)):
            parts.append(u)
            continue
        rho = _series(r, "rho")
        if len(rho) < 4 or not all(_finite(v) for v in rho):
            parts.append((INCONCLUSIVE, f"{lab}: fewer than 4 finite observations"))
            continue
        late = _late(r, rho)
        ipeak = max(range(len(rho)), key=lambda i: rho[i])
        peak, final = rho[ipeak], rho[-1]
        rises = peak > rho[0] and ipeak < len(rho) - len(late)
        relax = (peak - final) / peak if peak > 0 else 0.0
        mean_late = sum(late) / len(late)
        flat = (max(late) - min(late)) / mean_late if mean_late > 0 else float("inf")
        ok = rises and relax >= P5_MIN_RELAXATION and flat <= P5_MAX_PLATEAU_VARIATION
        parts.append((CONFIRMED if ok else NOT_CONFIRMED,
                      f"{lab}: rho {_fmt(rho[0])} -> peak {_fmt(peak)} at observation {ipeak}/"
                      f"{len(rho) - 1} -> final {_fmt(final)} ({relax:.1%} below peak); "
                      f"last-quarter variation {flat:.1%}"))
    return _combine(parts, THRESHOLDS[5], f"no BN+WD run with init <= {P5_SMALL_INIT_MAX}")


def _largest_drop(run):
    """(largest relative drop of a scale-invariant layer's norm between consecutive
    observations, (layer, observation)) or None when the run lists no such layer."""
    layers = run.get("scale_invariant_layers") or []
    if not layers:
        return None
    worst, where = 0.0, None
    for k in layers:
        n = _series(run, f"norm_{k}")
        for i, (a, b) in enumerate(zip(n, n[1:])):
            drop = (a - b) / a if a > 0 else 0.0
            if drop > worst:
                worst, where = drop, (k, i + 1)
    return worst, where


def prediction_6(runs):
    nowd = _select(runs, bn=True, wd=False)
    plain_sgd = [r for r in nowd if (r.get("momentum") or 0.0) == 0.0]
    if not plain_sgd:
        return Verdict(INCONCLUSIVE, "no BN run without WD at momentum 0", THRESHOLDS[6])
    parts, deviations = [], []
    for r in nowd:
        lab = _label(r)
        if r.get("diverged"):
            if r in plain_sgd:
                parts.append((INCONCLUSIVE, f"{lab}: diverged"))
            continue
        found = _largest_drop(r)
        if found is None:
            parts.append((INCONCLUSIVE, f"{lab}: no scale-invariant layers listed"))
            continue
        worst, where = found
        if r not in plain_sgd:  # the theory does not claim it with momentum: measured only
            deviations.append(f"{lab} (momentum {_fmt(r.get('momentum'))}): largest drop {_fmt(worst)}"
                              + (f" (layer {where[0]}, observation {where[1]})" if where else ""))
            continue
        ok = worst <= P6_MAX_REL_DECREASE
        parts.append((CONFIRMED if ok else NOT_CONFIRMED,
                      f"{lab}: largest relative drop of layers {r.get('scale_invariant_layers')} {_fmt(worst)}"
                      + (f" (layer {where[0]}, observation {where[1]})" if where and not ok else "")))

    # init dependence: every BN-noWD setting with several inits must beat the largest BN+WD
    # spread (conservative when several BN+WD settings were run)
    ref = []
    for name, g in _by_setting(_select(runs, bn=True, wd=True)).items():
        s, _ = _setting_spread(g)
        if s is not None:
            ref.append((s, name))
    for name, g in _by_setting(nowd).items():
        if len(g) < 2:
            continue
        s, text = _setting_spread(g)
        if s is None:
            parts.append((NOT_REACHED if text.startswith("regime") else INCONCLUSIVE,
                          f"{name} init dependence: {text}"))
        elif not ref:
            parts.append((INCONCLUSIVE, f"{name} rho spread {_fmt(s)}; no BN+WD setting with "
                                        ">= 2 inits past their plateau to compare with"))
        else:
            rs, rname = max(ref)
            parts.append((CONFIRMED if s > rs else NOT_CONFIRMED,
                          f"{name} rho spread {_fmt(s)} vs {rname} {_fmt(rs)}"))
    v = _combine(parts, THRESHOLDS[6], "no BN run without WD")
    if deviations:
        v = v._replace(evidence=v.evidence + "; measured deviation with momentum, not judged: "
                       + "; ".join(deviations))
    return v


def prediction_7(runs):
    parts = []
    for r in _select(runs, bn=False, wd=True):
        lab = _label(r)
        if (u := _unjudged(r)):
            parts.append(u)
            continue
        nr = _series(r, "norm_ratio")
        end = nr[-1] if nr else _final(r, "norm_ratio")
        if not _finite(end):
            parts.append((INCONCLUSIVE, f"{lab}: no norm_ratio"))
            continue
        start = nr[0] if nr else None
        peak = max(nr) if nr else None
        parts.append((CONFIRMED if end <= P7_MAX_FINAL_NORM_RATIO else NOT_CONFIRMED,
                      f"{lab}: norm_ratio start {_fmt(start)}, max {_fmt(peak)}, end {_fmt(end)}"))
    return _combine(parts, THRESHOLDS[7],
                    "no run with WD and without BN (the fc-wd setting is one)")


def _nc1_fall(run):
    nc1 = [v for v in _series(run, "nc1") if _finite(v)]
    if len(nc1) < 2:
        return None
    end = nc1[-1]
    return max(nc1) / end if end > 0 else float("inf")


def prediction_8(runs):
    parts, falls_wd, falls_nowd = [], [], []
    for r in _select(runs, wd=True):
        lab = _label(r)
        if (u := _unjudged(r)):
            parts.append(u)
            continue
        fall, nc4 = _nc1_fall(r), _final(r, "nc4")
        if fall is None or not _finite(nc4):
            parts.append((INCONCLUSIVE, f"{lab}: nc1/nc4 not measured"))
            continue
        falls_wd.append(fall)
        ok = fall >= P8_MIN_NC1_FALL and nc4 <= P8_MAX_FINAL_NC4
        parts.append((CONFIRMED if ok else NOT_CONFIRMED,
                      f"{lab}: nc1 fall {_fmt(fall)}x, nc3 end {_fmt(_final(r, 'nc3'))}, nc4 end {_fmt(nc4)}"))
    if not parts:
        return Verdict(INCONCLUSIVE, "no run with WD", THRESHOLDS[8])
    for r in _select(runs, wd=False):
        fall = _nc1_fall(r) if regime(r)[1] else None
        if fall is not None:
            falls_nowd.append(fall)
    if not falls_nowd:
        parts.append((INCONCLUSIVE, "no interpolating run without WD to compare with"))
    elif falls_wd:
        mw, mn = _median(falls_wd), _median(falls_nowd)
        parts.append((CONFIRMED if mn < mw else NOT_CONFIRMED,
                      f"median nc1 fall without WD {_fmt(mn)}x vs with WD {_fmt(mw)}x"))
    return _combine(parts, THRESHOLDS[8], "no run with WD")


def prediction_9(runs):
    pts = []
    for r in runs:
        if r.get("diverged"):
            continue
        tr, te, rho = _final(r, "train_error"), _final(r, "test_error"), _final(r, "rho")
        if _finite(tr) and tr <= P9_INTERPOLATION_TRAIN_ERROR and _finite(te) and _finite(rho):
            pts.append((rho, te, _label(r)))
    listing = ", ".join(f"{lab}: rho {_fmt(a)} err {_fmt(b)}" for a, b, lab in pts)
    if len(pts) < P9_MIN_RUNS:
        return Verdict(NOT_REACHED, f"{len(pts)} interpolating run(s), need {P9_MIN_RUNS}"
                       + (f" ({listing})" if pts else ""), THRESHOLDS[9])
    rs = spearman([p[0] for p in pts], [p[1] for p in pts])
    if not math.isfinite(rs):
        return Verdict(INCONCLUSIVE, f"Spearman undefined (constant rho or test error); {listing}",
                       THRESHOLDS[9])
    return Verdict(CONFIRMED if rs > 0 else NOT_CONFIRMED,
                   f"Spearman {rs:.3f} over {len(pts)} runs ({listing})", THRESHOLDS[9])


# ---- gradient flow ---------------------------------------------------------------------
# The flow settings (full-batch GD, momentum 0, small lr) check the theory's equations
# directly, from flow.csv (rhonet/train/flow_check.hpp), not the 9 predictions.
FLOW_MAX_RADIAL_RES = 1e-2     # median over the rows of |a_k - closed form| / ||grad_k L||, every layer
FLOW_LATE_FRACTION = 0.5       # "late" for the flow = the last half of tau
FLOW_MAX_LATE_RES = 1e-2       # max over the late rows of flow_res_k, every layer
FLOW_MAX_RHO_EQ_DEV = 0.02     # |rho / rho_eq - 1| at the end (train mode), one factor carrying the scale
FLOW_MAX_NORM_RATIO = 1.05     # max_k rho_k / min_k rho_k at the end, WD runs without BN
FLOW_MAX_LEMMA1_RES = 0.1      # Lemma 1 (3) residual at the end (train mode), WD runs

FLOW_CHECKS = {
    "F1": "Homogeneity gives the radial gradient in closed form: <W_k, grad_k L> / rho_k = "
          "(2c/rho_k)(sum ||g||^2 - sum <y,g>) for a factoring layer, 0 behind BN.",
    "F2": "The run follows the flow: the measured d rho_k/dtau matches the closed form "
          "d rho_k/dtau = -(2c/rho_k)(sum ||g||^2 - sum <y,g>) - wd rho_k.",
    "F3": "rho -> rho_eq = sum <y,f> / (lambda + sum ||f||^2) (BN + WD: one factor carries the scale).",
    "F4": "WD without BN: the layer norms are equal.",
    "F5": "Lemma 1 (3): the last layer becomes stationary on the sphere (residual -> 0).",
}

FLOW_THRESHOLDS = {
    "F1": f"median over the rows of radial_res_k <= {FLOW_MAX_RADIAL_RES:g} for every layer",
    "F2": f"flow_res_k <= {FLOW_MAX_LATE_RES:g} in every row of the last {FLOW_LATE_FRACTION:.0%} of tau, "
          "every layer",
    "F3": f"|rho / rho_eq - 1| <= {FLOW_MAX_RHO_EQ_DEV} at the end (train mode), runs with WD whose "
          "output carries its scale in one layer",
    "F4": f"max_k rho_k / min_k rho_k <= {FLOW_MAX_NORM_RATIO} at the end, WD runs without BN",
    "F5": f"lemma1_res <= {FLOW_MAX_LEMMA1_RES} at the end (train mode), WD runs",
}


def _flow_layers(run):
    cols = run.get("flow", {})
    k, out = 1, []
    while f"rho_{k}" in cols:
        out.append(k)
        k += 1
    return out


def _flow_late(run, xs):
    tau = run["flow"].get("tau", [])
    if not tau:
        return []
    t0 = (1.0 - FLOW_LATE_FRACTION) * tau[-1]
    return [x for t, x in zip(tau, xs) if t >= t0]


def _flow_final(run, key):
    xs = run.get("flow", {}).get(key, [])
    return xs[-1] if xs else float("nan")


def flow_check_rows(runs):
    """[(id, text, Verdict)] for the flow checks over the flow runs (those with a flow.csv)."""
    flow = [r for r in runs if r.get("flow")]
    rows = []

    def combine(check, parts, empty):
        rows.append((check, FLOW_CHECKS[check], _combine(parts, FLOW_THRESHOLDS[check], empty)))

    parts = []
    for r in flow:
        worst = max((_median([x for x in r["flow"][f"radial_res_{k}"] if _finite(x)]), k) for k in _flow_layers(r))
        ok = worst[0] <= FLOW_MAX_RADIAL_RES
        parts.append((CONFIRMED if ok else NOT_CONFIRMED,
                      f"{_label(r)}: largest median {_fmt(worst[0])} (layer {worst[1]})"))
    combine("F1", parts, "no flow run")
    parts = []
    for r in flow:
        late = [(max([x for x in _flow_late(r, r["flow"][f"flow_res_{k}"]) if _finite(x)] or [float("nan")]), k)
                for k in _flow_layers(r)]
        worst = max(late, key=lambda p: p[0] if _finite(p[0]) else float("inf"))
        if not _finite(worst[0]):
            parts.append((INCONCLUSIVE, f"{_label(r)}: no late rows"))
            continue
        ok = worst[0] <= FLOW_MAX_LATE_RES
        step = max(x for k in _flow_layers(r) for x in _flow_late(r, r["flow"][f"step_res_{k}"]) if _finite(x))
        parts.append((CONFIRMED if ok else NOT_CONFIRMED,
                      f"{_label(r)}: largest late flow_res {_fmt(worst[0])} (layer {worst[1]}); one-step "
                      f"residual up to {_fmt(step)}"))
    combine("F2", parts, "no flow run")
    parts = []
    for r in flow:
        if not _has_wd(r) or len(r.get("factoring_layers", [])) != 1:
            continue
        rho, eq = _flow_final(r, "rho"), _flow_final(r, "rho_eq")
        if not (_finite(rho) and _finite(eq) and eq > 0):
            parts.append((INCONCLUSIVE, f"{_label(r)}: rho_eq {_fmt(eq)} not positive"))
            continue
        dev = abs(rho / eq - 1)
        parts.append((CONFIRMED if dev <= FLOW_MAX_RHO_EQ_DEV else NOT_CONFIRMED,
                      f"{_label(r)}: rho {_fmt(rho)}, rho_eq {_fmt(eq)}, deviation {dev:.2%}"))
    combine("F3", parts, "no flow run with WD and one factor carrying the scale")
    parts = []
    for r in flow:
        if not _has_wd(r) or _has_bn(r):
            continue
        norms = [_flow_final(r, f"rho_{k}") for k in _flow_layers(r)]
        start = [r["flow"][f"rho_{k}"][0] for k in _flow_layers(r)]
        ratio = _spread(norms)
        note = " (they start equal)" if _spread(start) == 1 else ""
        parts.append((CONFIRMED if ratio <= FLOW_MAX_NORM_RATIO else NOT_CONFIRMED,
                      f"{_label(r)}: ratio {_fmt(ratio)}{note}"))
    combine("F4", parts, "no flow run with WD and without BN")
    parts = []
    for r in flow:
        if not _has_wd(r):
            continue
        xs = [x for x in r["flow"].get("lemma1_res", []) if _finite(x)]
        if not xs:
            parts.append((INCONCLUSIVE, f"{_label(r)}: no residual (more than one output)"))
            continue
        parts.append((CONFIRMED if xs[-1] <= FLOW_MAX_LEMMA1_RES else NOT_CONFIRMED,
                      f"{_label(r)}: {_fmt(xs[0])} at the start, {_fmt(xs[-1])} at the end"))
    combine("F5", parts, "no flow run with WD")
    return rows


ALL = [prediction_1, prediction_2, prediction_3, prediction_4, prediction_5,
       prediction_6, prediction_7, prediction_8, prediction_9]


def all_verdicts(runs):
    """[(number, prediction text, Verdict)] for the 9 predictions, from the runs that are not
    gradient-flow runs (those have checks of their own: flow_check_rows)."""
    sgd = [r for r in runs if not r.get("flow")]
    return [(i + 1, PREDICTIONS[i + 1], f(sgd)) for i, f in enumerate(ALL)]


# ---- several seeds ---------------------------------------------------------------------
def seeds_of(runs):
    """The seeds of the runs, in increasing order ([None] when the runs record none)."""
    seeds = sorted({r["seed"] for r in runs if r.get("seed") is not None})
    return seeds or [None]


def _of_seed(runs, seed):
    return [r for r in runs if r.get("seed") == seed] if seed is not None else list(runs)


def _worst(verdicts):
    """The combination rule (module docstring) on a list of verdicts."""
    return next((w for w in (NOT_CONFIRMED, INCONCLUSIVE, NOT_REACHED) if w in verdicts), CONFIRMED)


def verdicts_by_seed(runs):
    """[(number, prediction text, combined Verdict, [(seed, Verdict)])]: each prediction judged
    on the runs of every seed alone, then combined by the rule of _combine (confirmed only if
    every seed confirms it). The combined Verdict's evidence is the first seed's."""
    per_seed = [(seed, all_verdicts(_of_seed(runs, seed))) for seed in seeds_of(runs)]
    rows = []
    for i in range(len(ALL)):
        parts = [(seed, rows_[i][2]) for seed, rows_ in per_seed]
        first = parts[0][1]
        combined = Verdict(_worst([v.verdict for _, v in parts]), first.evidence, first.threshold)
        rows.append((i + 1, PREDICTIONS[i + 1], combined, parts))
    return rows


SEED_SPREAD_KEYS = ("train_error", "test_error", "rho", "rho_eq", "rho_margin_mean", "margin_cv")


def seed_spread(runs, keys=SEED_SPREAD_KEYS):
    """Mean and spread over seeds of the final values, per setting and init: [(setting, init,
    runs, {key: (mean, sample std, min, max, n)})], in the runs' order. A diverged run or a
    missing value is left out of that key (n counts the runs that have it); the std of one
    value is nan."""
    groups = {}
    for r in runs:
        groups.setdefault((r.get("setting", "?"), r.get("init")), []).append(r)
    out = []
    for (setting, init), group in groups.items():
        stats = {}
        for k in keys:
            xs = [v for v in (_final(r, k) for r in group if not r.get("diverged")) if _finite(v)]
            if not xs:
                stats[k] = (float("nan"),) * 4 + (0,)
                continue
            mean = sum(xs) / len(xs)
            sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else float("nan")
            stats[k] = (mean, sd, min(xs), max(xs), len(xs))
        out.append((setting, init, len(group), stats))
    return out

