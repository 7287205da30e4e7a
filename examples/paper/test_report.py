#!/usr/bin/python3
"""Tests of verdicts.py (each prediction: confirmed, not confirmed, inconclusive) and an
end-to-end run of report.py on a tiny synthetic run folder.

    /usr/bin/python3 examples/paper/test_report.py      # last line: "N passed, M failed"
    /usr/bin/python3 -m unittest examples/paper/test_report.py
"""

import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
sys.path.insert(0, HERE)
import verdicts as V  # noqa: E402
import report  # noqa: E402

C, N, I, R = V.CONFIRMED, V.NOT_CONFIRMED, V.INCONCLUSIVE, V.NOT_REACHED


def run(setting, bn, wd, init, diverged=False, final=None, inv=None, momentum=0.0, **series):
    """A run dict as verdicts.py takes it; `final` defaults to the series' last values. Unless
    a test says otherwise the run reached its regime: a WD run's rho is flat at the end (a
    constant series when none is given), a run without WD ends at train error 0."""
    fin = {k: v[-1] for k, v in series.items() if v}
    fin.update(final or {})
    if wd > 0 and "rho" not in series:
        series["rho"] = [fin.get("rho", 1.0)] * 4
    n = max((len(v) for v in series.values()), default=0)
    series.setdefault("iter", [100 * i for i in range(n)])
    if wd == 0:
        fin.setdefault("train_error", 0.0)
    return {"setting": setting, "bn": bn, "wd": wd, "init": init, "diverged": diverged, "momentum": momentum,
            "final": fin, "series": series, "scale_invariant_layers": inv or []}


class TestRegime(unittest.TestCase):
    def test_plateau(self):
        self.assertTrue(V.regime(bnwd(1, rho=[5, 2, 1, 1.01, 1.0]))[1])
        test, reached, why = V.regime(bnwd(1, rho=[0.1, 0.3, 0.5, 0.7, 0.9]))
        self.assertEqual((test, reached), ("plateau", False))
        self.assertIn("over the last 25% of the steps", why)
        # the last quarter of the steps, not of the observations: log-spaced observations
        late_rise = bnwd(1, iter=[0, 1, 10, 100, 1000, 7600, 8000, 10000], rho=[1, 1, 1, 1, 1, 1, 1.2, 1.3])
        self.assertFalse(V.regime(late_rise)[1])
        self.assertIsNone(V.regime(bnwd(1, diverged=True))[1])
        # rho reached 0 (weight decay won): a regime not reached, with the step it happened
        test, reached, why = V.regime(bnwd(0.1, rho=[0.1, 1e-20, 0.0, 0.0]))
        self.assertEqual((test, reached), ("plateau", False))
        self.assertIn("collapsed: rho = 0 from step 200 on", why)
        self.assertEqual(V._unjudged(bnwd(0.1, rho=[0.1, 0.0, 0.0]))[0], R)

    def test_interpolation(self):
        self.assertTrue(V.regime(plain(1, final={"train_error": 0.0}))[1])
        self.assertEqual(V.regime(plain(1, final={"train_error": 0.01}))[:2], ("interpolation", False))

    def test_unreached_runs_are_never_not_confirmed(self):
        far_and_moving = bnwd(0.1, rho=[0.01, 0.5, 1.0, 2.0], rho_eq=[1, 1, 1, 1])
        v = V.prediction_3([far_and_moving])
        self.assertEqual(v.verdict, R)
        self.assertIn("plateau not reached", v.evidence)
        # a judged failure elsewhere still wins
        far = bnwd(1, rho=[0.01, 0.5, 0.55, 0.55], rho_eq=[1, 1, 1, 1])
        self.assertEqual(V.prediction_3([far_and_moving, far]).verdict, N)


def bnwd(init, **kw):
    return run("fc-bn-wd", True, 0.01, init, **kw)


def plain(init, **kw):
    return run("plain", False, 0.0, init, **kw)


def bnnowd(init, **kw):
    return run("conv-bn-nowd", True, 0.0, init, **kw)


def wdnobn(init, **kw):
    return run("fc4-nobn-wd", False, 0.01, init, **kw)


class TestP1(unittest.TestCase):
    def test_confirmed(self):
        rs = [bnwd(i, final={"rho": r, "test_error": e})
              for i, r, e in ((0.1, 0.55, 0.10), (1, 0.6, 0.11), (5, 0.7, 0.105))]
        self.assertEqual(V.prediction_1(rs).verdict, C)

    def test_not_confirmed(self):
        rs = [bnwd(i, final={"rho": r, "test_error": 0.1}) for i, r in ((0.1, 0.5), (5, 2.0))]
        self.assertEqual(V.prediction_1(rs).verdict, N)

    def test_inconclusive(self):
        self.assertEqual(V.prediction_1([]).verdict, I)
        rs = [bnwd(0.1, final={"rho": 0.5, "test_error": 0.1}),
              bnwd(5, diverged=True, final={"rho": float("nan"), "test_error": 0.5})]
        v = V.prediction_1(rs)
        self.assertEqual(v.verdict, I)
        self.assertIn("diverged", v.evidence)


class TestP2(unittest.TestCase):
    def test_confirmed(self):
        rs = [plain(i, final={"rho": r, "test_error": e}) for i, r, e in ((0.1, 2, 0.1), (5, 600, 0.2))]
        self.assertEqual(V.prediction_2(rs).verdict, C)

    def test_not_confirmed(self):
        rs = [plain(i, final={"rho": r, "test_error": e}) for i, r, e in ((0.1, 2, 0.2), (5, 600, 0.1))]
        self.assertEqual(V.prediction_2(rs).verdict, N)

    def test_inconclusive(self):
        self.assertEqual(V.prediction_2([bnwd(0.1, final={"rho": 1})]).verdict, I)
        self.assertEqual(V.prediction_2([plain(0.1, final={"rho": 1, "test_error": 0.1})]).verdict, I)


class TestP3(unittest.TestCase):
    def test_confirmed(self):
        r = bnwd(0.1, rho=[0.01, 0.5, 0.6, 0.55, 0.55], rho_eq=[-3, 0.4, 0.58, 0.56, 0.55],
                 sum_yf=[-0.1, 1, 2, 3, 3])
        self.assertEqual(V.prediction_3([r]).verdict, C)

    def test_not_confirmed(self):
        far = bnwd(0.1, rho=[0.01, 0.5, 0.55, 0.55], rho_eq=[1, 1, 1, 1], sum_yf=[0, 1, 2, 3])
        self.assertEqual(V.prediction_3([far]).verdict, N)
        # before f separates on average nothing is claimed: an early negative rho_eq is fine
        early_neg = bnwd(0.1, rho=[0.01, 0.5, 0.55, 0.55], rho_eq=[-1, -0.5, 0.6, 0.55], sum_yf=[0, -1, 2, 3])
        self.assertEqual(V.prediction_3([early_neg]).verdict, C)

    def test_inconclusive(self):
        self.assertEqual(V.prediction_3([plain(1, rho=[1, 2], rho_eq=[1, 2], sum_yf=[1, 1])]).verdict, I)
        r = bnwd(0.1, diverged=True, rho=[1, 2], rho_eq=[1, 2], sum_yf=[1, 1])
        self.assertEqual(V.prediction_3([r]).verdict, I)
        never = bnwd(0.1, rho=[0.5, 0.5, 0.5, 0.5], rho_eq=[-1, -1, -1, -1])
        self.assertEqual(V.prediction_3([never]).verdict, I)


class TestP4(unittest.TestCase):
    def test_confirmed(self):
        r = bnwd(1, margin_cv=[5, 3, 1, 0.3], margin_mean=[0.01, 0.1, 0.5, 1], rho_margin_mean=[0, 0.2, 0.9, 1.1])
        self.assertEqual(V.prediction_4([r]).verdict, C)

    def test_not_confirmed(self):
        wider = bnwd(1, margin_cv=[5, 0.3, 1, 2], margin_mean=[1, 1, 1, 1], rho_margin_mean=[1, 1, 1, 1])
        self.assertEqual(V.prediction_4([wider]).verdict, N)
        off = bnwd(1, margin_cv=[5, 3, 1, 0.3], margin_mean=[1, 1, 1, 1], rho_margin_mean=[1, 1, 1, 5])
        self.assertEqual(V.prediction_4([off]).verdict, N)

    def test_inconclusive(self):
        self.assertEqual(V.prediction_4([plain(1)]).verdict, I)  # no WD run at all
        short = bnwd(1, margin_cv=[5, 3], margin_mean=[1, 1], rho_margin_mean=[1, 1])
        self.assertEqual(V.prediction_4([short]).verdict, I)


class TestP5(unittest.TestCase):
    def test_confirmed(self):
        r = bnwd(0.1, rho=[0.001, 0.3, 0.6, 0.58, 0.56, 0.55, 0.55, 0.55])
        self.assertEqual(V.prediction_5([r]).verdict, C)

    def test_not_confirmed(self):
        no_relax = bnwd(0.1, rho=[0.001, 0.3, 0.6, 0.6, 0.6, 0.6, 0.6, 0.599])
        self.assertEqual(V.prediction_5([no_relax]).verdict, N)

    def test_inconclusive(self):
        self.assertEqual(V.prediction_5([bnwd(5, rho=[1, 2, 1, 1, 1])]).verdict, I)  # no small init
        self.assertEqual(V.prediction_5([bnwd(0.1, rho=[0.5, 0.5])]).verdict, I)  # too few observations
        rising = bnwd(0.1, rho=[0.001, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])  # still rising: no plateau
        self.assertEqual(V.prediction_5([rising]).verdict, R)


class TestP6(unittest.TestCase):
    def _nowd(self, drop=False):
        n = [1.0, 1.1, 1.2, 1.2]
        if drop:
            n = [1.0, 1.1, 1.05, 1.2]
        return [bnnowd(0.1, inv=[1], norm_1=n, norm_2=[0.1] * 4, final={"rho": 0.1}),
                bnnowd(5, inv=[1], norm_1=[5, 5.1, 5.2, 5.3], norm_2=[5] * 4, final={"rho": 5.0})]

    def _wd(self):
        return [bnwd(0.1, final={"rho": 0.5}), bnwd(5, final={"rho": 0.6})]

    def test_confirmed(self):
        self.assertEqual(V.prediction_6(self._nowd() + self._wd()).verdict, C)

    def test_momentum_is_measured_not_judged(self):
        dips = bnnowd(1, momentum=0.9, inv=[1], norm_1=[1.0, 1.1, 1.05, 1.2], final={"rho": 1.0})
        dips["setting"] = "fc-bn-nowd-momentum"
        v = V.prediction_6(self._nowd() + self._wd() + [dips])
        self.assertEqual(v.verdict, C)
        self.assertIn("measured deviation with momentum, not judged", v.evidence)
        self.assertIn("0.04545", v.evidence)
        self.assertEqual(V.prediction_6([dips] + self._wd()).verdict, I)  # no momentum-0 run

    def test_not_confirmed(self):
        self.assertEqual(V.prediction_6(self._nowd(drop=True) + self._wd()).verdict, N)
        # less init dependence than with WD
        wd = [bnwd(0.1, final={"rho": 0.01}), bnwd(5, final={"rho": 100.0})]
        self.assertEqual(V.prediction_6(self._nowd() + wd).verdict, N)

    def test_inconclusive(self):
        self.assertEqual(V.prediction_6(self._wd()).verdict, I)
        self.assertEqual(V.prediction_6(self._nowd()).verdict, I)  # nothing to compare with


class TestP7(unittest.TestCase):
    def test_confirmed(self):
        self.assertEqual(V.prediction_7([wdnobn(1, norm_ratio=[1, 3, 1.2])]).verdict, C)

    def test_not_confirmed(self):
        self.assertEqual(V.prediction_7([wdnobn(1, norm_ratio=[1, 3, 2.5])]).verdict, N)

    def test_inconclusive(self):
        v = V.prediction_7([bnwd(1, norm_ratio=[1, 1]), plain(1, norm_ratio=[1, 1])])
        self.assertEqual(v.verdict, I)
        self.assertIn("fc-wd", v.evidence)


class TestP8(unittest.TestCase):
    def test_confirmed(self):
        rs = [bnwd(1, nc1=[1, 5, 0.1, 0.01], nc3=[1, 0.5, 0.1, 0.05], nc4=[0.3, 0.1, 0.02, 0.01]),
              bnnowd(1, nc1=[1, 5, 2, 1], nc3=[1, 1, 1, 1], nc4=[0.3, 0.2, 0.1, 0.1])]
        self.assertEqual(V.prediction_8(rs).verdict, C)

    def test_not_confirmed(self):
        weak = [bnwd(1, nc1=[1, 5, 2, 1], nc3=[1] * 4, nc4=[0.3, 0.2, 0.1, 0.01]),
                bnnowd(1, nc1=[1, 5, 2, 1], nc3=[1] * 4, nc4=[0.3] * 4)]
        self.assertEqual(V.prediction_8(weak).verdict, N)
        stronger_without = [bnwd(1, nc1=[1, 5, 0.1, 0.01], nc3=[0] * 4, nc4=[0.0] * 4),
                            bnnowd(1, nc1=[1, 50, 0.1, 0.001], nc3=[0] * 4, nc4=[0.0] * 4)]
        self.assertEqual(V.prediction_8(stronger_without).verdict, N)

    def test_inconclusive(self):
        self.assertEqual(V.prediction_8([plain(1, nc1=[1, 0.1], nc4=[0, 0])]).verdict, I)
        only_wd = [bnwd(1, nc1=[1, 5, 0.1, 0.01], nc3=[0] * 4, nc4=[0.0] * 4)]
        self.assertEqual(V.prediction_8(only_wd).verdict, I)


class TestP9(unittest.TestCase):
    def _runs(self, pairs, train_error=0.0):
        return [plain(i, final={"rho": r, "test_error": e, "train_error": train_error})
                for i, (r, e) in enumerate(pairs)]

    def test_confirmed(self):
        self.assertEqual(V.prediction_9(self._runs([(1, 0.1), (10, 0.2), (100, 0.15), (1000, 0.3)])).verdict, C)

    def test_not_confirmed(self):
        self.assertEqual(V.prediction_9(self._runs([(1, 0.3), (10, 0.2), (100, 0.1)])).verdict, N)

    def test_inconclusive(self):
        self.assertEqual(V.prediction_9(self._runs([(1, 0.1), (10, 0.2)])).verdict, R)
        self.assertEqual(V.prediction_9(self._runs([(1, 0.1), (10, 0.2), (100, 0.3)], 0.01)).verdict, R)
        self.assertEqual(V.prediction_9(self._runs([(1, 0.1), (10, 0.1), (100, 0.1)])).verdict, I)

    def test_spearman_ties(self):
        self.assertAlmostEqual(V.spearman([1, 2, 3], [1, 2, 3]), 1.0)
        self.assertAlmostEqual(V.spearman([1, 2, 2, 3], [4, 3, 3, 1]), -1.0)


# ---- gradient flow -------------------------------------------------------------------------
def flow_run(setting, bn, wd, radial=1e-6, late=1e-4, rho=(1.0, 0.8), rho_eq=(0.5, 0.8), norms=None,
             lemma1=(0.5, 0.01), factoring=None, inv=None):
    """A flow run: 4 layers, 10 rows over tau 0..10; the late half has flow_res `late`."""
    tau = [float(i) for i in range(10)]
    fl = {"tau": tau, "iter": [100 * i for i in range(10)],
          "rho": [rho[0]] + [rho[1]] * 9, "rho_eq": [rho_eq[0]] + [rho_eq[1]] * 9,
          "lemma1_res": [lemma1[0]] + [lemma1[1]] * 9}
    for k in range(1, 5):
        end = (norms or [1.0] * 4)[k - 1]
        fl[f"rho_{k}"] = [1.0] + [end] * 9
        fl[f"radial_res_{k}"] = [radial] * 10
        fl[f"flow_res_{k}"] = [float("nan"), 0.05, 0.02, 0.01] + [late] * 6
        fl[f"step_res_{k}"] = [float("nan")] + [2 * late] * 9
    r = run(setting, bn, wd, 1.0)
    r.update(flow=fl, factoring_layers=factoring or ([4] if bn else [1, 2, 3, 4]),
             scale_invariant_layers=inv or ([1, 2, 3] if bn else []))
    return r


def flow_verdicts(runs):
    return {n: v.verdict for n, _, v in V.flow_check_rows(runs)}


class TestFlow(unittest.TestCase):
    def test_confirmed(self):
        v = flow_verdicts([flow_run("flow-bn-wd", True, 0.01), flow_run("flow-wn-wd", False, 0.01)])
        self.assertEqual(v, {"F1": C, "F2": C, "F3": C, "F4": C, "F5": C})

    def test_not_confirmed(self):
        v = flow_verdicts([flow_run("flow-bn-wd", True, 0.01, radial=0.05, late=0.02, rho_eq=(0.5, 0.7),
                                    lemma1=(0.3, 0.5)),
                           flow_run("flow-wn-wd", False, 0.01, norms=[1.0, 1.2, 1.0, 1.0])])
        self.assertEqual(v, {"F1": N, "F2": N, "F3": N, "F4": N, "F5": N})

    def test_early_rows_are_not_judged_and_sgd_runs_are_not_flow_runs(self):
        # flow_res is large only in the first half of tau: still confirmed
        self.assertEqual(flow_verdicts([flow_run("flow-bn-wd", True, 0.01)])["F2"], C)
        # without flow runs every check is inconclusive, and flow runs stay out of P1-P9
        self.assertEqual(set(flow_verdicts([bnwd(1)]).values()), {I})
        with_flow = V.all_verdicts([flow_run("flow-bn-wd", True, 0.01)])
        self.assertEqual([v.evidence for _, _, v in with_flow], [v.evidence for _, _, v in V.all_verdicts([])])

    def test_rho_eq_only_where_one_factor_carries_the_scale(self):
        v = V.flow_check_rows([flow_run("flow-wn-wd", False, 0.01, rho_eq=(1e-4, 1e-4))])
        f3 = next(x for n, _, x in v if n == "F3")
        self.assertEqual(f3.verdict, I)


# ---- end to end --------------------------------------------------------------------------
COLUMNS = ["epoch", "iter", "lr", "train_loss", "test_loss", "train_error", "test_error", "rho",
           "rho_all", "rho_bn", "rho_eq", "rho_eq0", "sum_yf", "sum_f2", "mean_abs_f", "margin_min",
           "margin_mean", "margin_std", "margin_cv", "rho_margin_mean", "norm_ratio", "nc1", "nc2",
           "nc2_cos", "nc3", "nc4", "residual", "seconds", "norm_1", "norm_2", "norm_3", "norm_4"]


def write_synthetic_run(root, setting, bn, wd, init, rows=6, seed=None):
    """A run folder as paper writes it; with a seed, in <setting>/init_<init>/seed_<seed> and
    with values that depend on the seed."""
    d = os.path.join(root, setting, f"init_{init}", *([f"seed_{seed}"] if seed is not None else []))
    os.makedirs(d)
    shift = 0.0 if seed is None else 0.01 * seed
    obs, margins = [], []
    for i in range(rows):
        it = 0 if i == 0 else 10 ** i
        t = i / (rows - 1)
        rho = init * (1 + t) if not bn else 0.5 + 0.1 * t
        mm = 0.1 + t
        row = {"epoch": it / 100.0, "iter": it, "lr": 0.1, "train_loss": 1 - 0.9 * t,
               "test_loss": 1 - 0.8 * t, "train_error": 0.5 * (1 - t),
               "test_error": 0.5 - 0.3 * t + init / 100 + shift,
               "rho": rho, "rho_all": rho * init ** 3, "rho_bn": rho * 2, "rho_eq": rho * 1.05,
               "rho_eq0": rho * 1.1, "sum_yf": -1 if i == 0 else 10 * t, "sum_f2": 5 * t + 0.01,
               "mean_abs_f": 0.01 + t, "margin_min": -0.5 + t, "margin_mean": mm, "margin_std": 0.5,
               "margin_cv": 0.5 / mm, "rho_margin_mean": rho * mm, "norm_ratio": 1 + 0.1 * t,
               "nc1": 10 ** (1 - 3 * t), "nc2": 0.1, "nc2_cos": 0.2 * (1 - t), "nc3": 1 - t, "nc4": 0.2 * (1 - t),
               "residual": 0.1, "seconds": i * 0.5}
        for k in range(1, 5):
            row[f"norm_{k}"] = init * (1 + 0.05 * k * t)
        obs.append([row[c] for c in COLUMNS])
        margins.append([row["epoch"], it] + [row["margin_min"] + q / 50.0 for q in range(101)])
    with open(os.path.join(d, "observations.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        w.writerows(obs)
    with open(os.path.join(d, "margins.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["epoch", "iter"] + [f"q{q:03d}" for q in range(101)])
        w.writerows(margins)
    summary = {"setting": setting, "arch": "fc4", "bn": bn, "wd": wd, "init": init, "lr": 0.1,
               "momentum": 0.9, "batch": 128, "epochs": 1, "outputs": 1, "seed": 1,
               "diverged": False, "diverged_at": None, "seconds": 2.5,
               "scale_invariant_layers": [1, 2, 3] if bn else [], "factoring_layers": [4] if bn else [1, 2, 3, 4],
               "final": dict(zip(COLUMNS, obs[-1]))}
    summary["meta"] = {"setting": setting, "arch": "fc4", "bn": bn, "wd": wd, "init": init}
    if seed is not None:
        summary["meta"]["seed"] = seed
    summary["config"] = {"weight_decay": wd, "momentum": 0.9, "batch": 128, "lr": 0.1, "loss": "square"}
    with open(os.path.join(d, "summary.json"), "w") as fh:
        json.dump(summary, fh)


class TestEndToEnd(unittest.TestCase):
    def test_report(self):
        with tempfile.TemporaryDirectory() as tmp:
            settings = [("fc-bn-wd", True, 0.01), ("plain", False, 0.0)]
            manifest = {"command": "paper --preset quick", "started": "2025-01-01T00:00:00Z",
                        "preset": "quick", "data": {"name": "synthetic", "train": 10, "test": 5},
                        "machine": {"hardware_threads": 1},
                        "settings": [{"name": n, "arch": "fc4", "bn": b, "wd": w, "lr": 0.1,
                                      "momentum": 0.9, "epochs": 1, "batch": 128, "inits": ["0.1", "5"]}
                                     for n, b, w in settings],
                        "seconds": 10.0, "diverged_runs": 0,
                        "runs": [{"setting": n, "init": i, "folder": f"{n}/init_{i}", "status": "finished"}
                                 for n, _, _ in settings for i in ("0.1", "5")]
                        + [{"setting": "flow-bn-wd", "init": "1", "folder": "flow-bn-wd/init_1", "status": "finished"}]}
            with open(os.path.join(tmp, "manifest.json"), "w") as fh:
                json.dump(manifest, fh)
            for n, b, w in settings:
                for init in ("0.1", "5"):
                    write_synthetic_run(tmp, n, b, w, float(init) if init != "5" else 5)
            # A gradient-flow run: its flow.csv gives the flow section and figure, not P1-P9 panels.
            write_synthetic_run(tmp, "flow-bn-wd", True, 0.01, 1)
            fl = flow_run("flow-bn-wd", True, 0.01)["flow"]
            with open(os.path.join(tmp, "flow-bn-wd", "init_1", "flow.csv"), "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(list(fl))
                w.writerows(zip(*fl.values()))
            # Left by another sweep and not in the manifest: never read.
            write_synthetic_run(tmp, "fc-bn-wd", True, 0.01, 7)
            write_synthetic_run(tmp, "conv-bn-nowd", True, 0.0, 1)
            p = subprocess.run([sys.executable, os.path.join(HERE, "report.py"), tmp],
                               capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stderr)
            with open(os.path.join(tmp, "REPORT.md")) as fh:
                text = fh.read()
            # the 9-row predictions table, each row with a verdict
            predictions = text.split("## Gradient flow")[0]
            rows = [ln for ln in predictions.splitlines() if ln.startswith("| ") and ln.split("|")[1].strip().isdigit()]
            self.assertEqual([int(ln.split("|")[1]) for ln in rows], list(range(1, 10)))
            for ln in rows:
                self.assertRegex(ln, r"\*\*(confirmed|not confirmed|inconclusive)\*\* \|$")
            self.assertIn("the fc-wd setting is one", text)  # P7 without a WD-no-BN run
            self.assertNotIn("init_7", text)
            self.assertNotIn("conv-bn-nowd", text)
            figs = os.path.join(tmp, "figures")
            names = sorted(os.listdir(figs))
            self.assertEqual(len(names), 2 * 6 + 1 + 1, names)
            self.assertIn("flow-bn-wd-init_1-flow.png", names)
            self.assertIn("## Gradient flow", text)
            flow_rows = [ln for ln in text.splitlines() if ln.startswith("| F")]
            self.assertEqual([ln.split("|")[1].strip() for ln in flow_rows], ["F1", "F2", "F3", "F4", "F5"])
            for name in names:
                with open(os.path.join(figs, name), "rb") as fh:
                    head = fh.read(8)
                self.assertEqual(head, b"\x89PNG\r\n\x1a\n", name)
                self.assertGreater(os.path.getsize(os.path.join(figs, name)), 1000, name)
                self.assertIn(f"(figures/{name})", text)


class TestMultiClass(unittest.TestCase):
    """A sweep over C > 2 classes: the neural-collapse section and figures speak of C classes."""

    def test_ten_classes(self):
        with tempfile.TemporaryDirectory() as tmp:
            manifest = {"program": "paper", "data": {"name": "synthetic", "classes": list(range(10)), "outputs": 10},
                        "settings": [{"name": "fc-bn-wd", "arch": "fc4", "bn": True, "wd": 0.01}],
                        "runs": [{"setting": "fc-bn-wd", "init": "1", "folder": "fc-bn-wd/init_1",
                                  "status": "finished"}]}
            with open(os.path.join(tmp, "manifest.json"), "w") as fh:
                json.dump(manifest, fh)
            write_synthetic_run(tmp, "fc-bn-wd", True, 0.01, 1)
            _, runs = report.load_runs(tmp)
            self.assertEqual(runs[0]["classes"], 10)
            self.assertEqual(report._margin_name(runs[0]), "f_y - max_{c!=y} f_c")
            p = subprocess.run([sys.executable, os.path.join(HERE, "report.py"), tmp],
                               capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stderr)
            with open(os.path.join(tmp, "REPORT.md")) as fh:
                text = fh.read()
            section = text.split("## Neural collapse")[1].split("\n## ")[0]
            self.assertIn("with 10 classes", section)
            row = [ln for ln in section.splitlines() if ln.startswith("| fc-bn-wd")]
            self.assertEqual(len(row), 1)
            cells = [c.strip() for c in row[0].split("|")[1:-1]]
            self.assertEqual(cells[2], "10")        # C
            self.assertEqual(cells[6], "1000")      # NC1 fall: 10 / 0.01
            self.assertTrue(os.path.exists(os.path.join(tmp, "figures", "fc-bn-wd-e-collapse.png")))

    def test_two_classes_by_default(self):
        with tempfile.TemporaryDirectory() as tmp:
            write_synthetic_run(tmp, "plain", False, 0.0, 1)
            with open(os.path.join(tmp, "manifest.json"), "w") as fh:
                json.dump({"program": "paper", "settings": [], "runs": [
                    {"setting": "plain", "init": "1", "folder": "plain/init_1", "status": "finished"}]}, fh)
            _, runs = report.load_runs(tmp)
            self.assertEqual(runs[0]["classes"], 2)
            self.assertEqual(report._margin_name(runs[0]), "y_n f_n")


class TestManifestRuns(unittest.TestCase):
    """The report reads the runs manifest.json lists as done, and nothing else."""

    def _manifest(self, tmp, runs):
        with open(os.path.join(tmp, "manifest.json"), "w") as fh:
            json.dump({"program": "paper", "settings": [], "runs": runs}, fh)

    def test_only_listed_finished_runs(self):
        with tempfile.TemporaryDirectory() as tmp:
            for init in (0.1, 1, 5):
                write_synthetic_run(tmp, "plain", False, 0.0, init)
            self._manifest(tmp, [
                {"setting": "plain", "init": "0.1", "folder": "plain/init_0.1", "status": "finished"},
                {"setting": "plain", "init": "1", "folder": "plain/init_1", "status": "interrupted"},
                {"setting": "plain", "init": "5", "folder": "plain/init_5", "status": "diverged"}])
            _, runs = report.load_runs(tmp)
            self.assertEqual([r["label"] for r in runs], ["init_0.1", "init_5"])

    def test_no_runs_listed(self):
        with tempfile.TemporaryDirectory() as tmp:
            write_synthetic_run(tmp, "plain", False, 0.0, 1)
            with open(os.path.join(tmp, "manifest.json"), "w") as fh:
                json.dump({"command": "paper", "settings": []}, fh)
            with self.assertRaisesRegex(ValueError, "lists no runs"):
                report.load_runs(tmp)

    def test_folder_outside_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            for bad in ("../x/init_1", "/tmp/init_1", "plain/../../init_1", "plain/init_1/deeper",
                        "plain/init_1/seed_", "plain/x/seed_1", "plain/init_1/seed_1/x"):
                self._manifest(tmp, [{"setting": "plain", "folder": bad, "status": "finished"}])
                with self.assertRaisesRegex(ValueError, "is not <setting>/init_<scale>"):
                    report.load_runs(tmp)


class TestSeeds(unittest.TestCase):
    """--seeds N: each prediction judged per seed, combined; mean and spread over seeds."""

    def _p1(self, seed, rhos):
        return [dict(bnwd(i, final={"rho": r, "test_error": 0.1}), seed=seed) for i, r in zip((0.1, 1, 5), rhos)]

    def test_a_prediction_is_confirmed_only_if_every_seed_confirms_it(self):
        agree = self._p1(1, (0.55, 0.6, 0.7))
        against = self._p1(2, (0.5, 0.6, 2.0))  # spread 4 > 1.5
        rows = V.verdicts_by_seed(agree + against)
        n, _, combined, parts = rows[0]
        self.assertEqual(n, 1)
        self.assertEqual([(s, v.verdict) for s, v in parts], [(1, C), (2, N)])
        self.assertEqual(combined.verdict, N)
        self.assertEqual(combined.evidence, V.prediction_1(agree).evidence)  # the first seed's
        # seeds judged apart: pooled, the two seeds' runs at one init would not be told apart
        self.assertEqual(V.verdicts_by_seed(agree + self._p1(3, (0.6, 0.65, 0.7)))[0][2].verdict, C)
        # no seed recorded (a sweep of one seed from an older paper): one group
        self.assertEqual(V.seeds_of([bnwd(1)]), [None])
        self.assertEqual([v.verdict for _, _, v, _ in V.verdicts_by_seed([bnwd(1)])],
                         [v.verdict for _, _, v in V.all_verdicts([bnwd(1)])])

    def test_spread(self):
        runs = [dict(bnwd(1, final={"rho": r, "test_error": e}), seed=s)
                for s, r, e in ((1, 0.5, 0.10), (2, 0.7, 0.14), (3, 0.9, float("nan")))]
        runs.append(dict(bnwd(1, diverged=True, final={"rho": 99.0}), seed=4))
        runs.append(dict(bnwd(5, final={"rho": 0.8}), seed=1))
        (s1, i1, n1, st1), (s2, i2, n2, st2) = V.seed_spread(runs, ("rho", "test_error"))
        self.assertEqual((s1, i1, n1, s2, i2, n2), ("fc-bn-wd", 1, 4, "fc-bn-wd", 5, 1))
        mean, sd, lo, hi, m = st1["rho"]  # the diverged run is left out
        self.assertAlmostEqual(mean, 0.7)
        self.assertAlmostEqual(sd, 0.2)
        self.assertEqual((lo, hi, m), (0.5, 0.9, 3))
        self.assertEqual(st1["test_error"][4], 2)  # nan is left out
        self.assertAlmostEqual(st1["test_error"][1], (2 * 0.02 ** 2) ** 0.5)
        self.assertTrue(math.isnan(st2["rho"][1]))  # one value: no spread

    def test_report_of_several_seeds(self):
        with tempfile.TemporaryDirectory() as tmp:
            runs = []
            for n, b, w in (("fc-bn-wd", True, 0.01), ("plain", False, 0.0)):
                for init in ("0.1", "5"):
                    for seed in (7, 8):
                        write_synthetic_run(tmp, n, b, w, float(init) if init != "5" else 5, seed=seed)
                        runs.append({"setting": n, "init": init, "seed": seed, "status": "finished",
                                     "folder": f"{n}/init_{init}/seed_{seed}"})
            write_synthetic_run(tmp, "flow-bn-wd", True, 0.01, 1, seed=7)
            runs.append({"setting": "flow-bn-wd", "init": "1", "seed": 7, "status": "finished",
                         "folder": "flow-bn-wd/init_1/seed_7"})
            fl = flow_run("flow-bn-wd", True, 0.01)["flow"]
            with open(os.path.join(tmp, "flow-bn-wd", "init_1", "seed_7", "flow.csv"), "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(list(fl))
                w.writerows(zip(*fl.values()))
            with open(os.path.join(tmp, "manifest.json"), "w") as fh:
                json.dump({"program": "paper", "settings": [], "seeds": [7, 8], "runs": runs}, fh)
            _, loaded = report.load_runs(tmp)
            self.assertEqual([(r["label"], r["seed"]) for r in loaded][:2], [("init_0.1", 7), ("init_0.1", 8)])
            p = subprocess.run([sys.executable, os.path.join(HERE, "report.py"), tmp], capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stderr)
            with open(os.path.join(tmp, "REPORT.md")) as fh:
                text = fh.read()
            rows = [ln for ln in text.split("## Seeds")[0].split("## Predictions")[1].splitlines()
                    if ln.startswith("| ") and ln.split("|")[1].strip().isdigit()]
            self.assertEqual(len(rows), 9)
            for ln in rows:
                self.assertRegex(ln, r"\| 7: [a-z: ]+; 8: [a-z: ]+ \|$")
            seeds = text.split("## Seeds")[1].split("\n## ")[0]
            self.assertIn("with 2 seeds (7, 8)", seeds)
            # final test error of fc-bn-wd at init 0.1: 0.2 + 0.001 + 0.01 * seed -> 0.271 and 0.281
            row = [ln for ln in seeds.splitlines() if ln.startswith("| fc-bn-wd | 0.1 |")]
            self.assertEqual(len(row), 1, seeds)
            self.assertIn("0.276 ± 0.0071 [0.271, 0.281]", row[0])
            self.assertIn("| 0.1, seed 8 |", text)  # tables name the seed
            names = sorted(os.listdir(os.path.join(tmp, "figures")))
            # the panels show the first seed; the summary and seeds figures every run; the flow
            # run its own
            self.assertEqual(len(names), 2 * 6 + 1 + 1 + 1, names)
            self.assertIn("seeds-final-values.png", names)
            self.assertIn("flow-bn-wd-init_1-seed_7-flow.png", names)
            self.assertIn("(seed 7 of 2 seeds)", text)


def main():
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=1).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    print(f"{result.testsRun - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
