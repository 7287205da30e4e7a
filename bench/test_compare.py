#!/usr/bin/python3
"""Tests of bench/compare.py's parsing and target table on synthetic benchmark output:
the ratios come from the rows they name, and a missing side reads n/a, never met."""

import importlib.util
import os
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("compare", os.path.join(HERE, "compare.py"))
compare = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare)


def gbench_row(name, median_s, counters=None):
    """The median aggregate of a Google Benchmark run, in microseconds."""
    row = {"name": name + "_median", "run_name": name, "run_type": "aggregate",
           "aggregate_name": "median", "real_time": median_s * 1e6, "time_unit": "us"}
    row.update(counters or {})
    return row


RHONET = {"benchmarks": [
    gbench_row("fc4_bn_epoch/W:512/blas_threads:1/iterations:1/real_time", 0.66),
    gbench_row("fc4_bn_gemm_only/W:512/blas_threads:1/iterations:1/real_time", 0.60),
    gbench_row("fc4_bn_epoch/W:512/blas_threads:2/iterations:1/real_time", 0.40),
    gbench_row("conv4_bn_epoch/blas_threads:1/iterations:1/real_time", 4.0),
    gbench_row("conv4_bn_epoch/blas_threads:2/iterations:1/real_time", 3.0),
    gbench_row("fc4_bn_step/W:512/blas_threads:1/real_time", 0.013, {"allocs/step": 0}),
    gbench_row("conv4_bn_step/blas_threads:1/real_time", 0.05, {"allocs/step": 2}),
    gbench_row("fc4_bn_latency/W:256/batch:1", 30e-6, {"allocs/call": 0}),
    gbench_row("fc4_bn_latency/W:512/batch:1", 80e-6, {"allocs/call": 0}),
    gbench_row("fc4_bn_weight_stream/W:512", 64e-6),
    gbench_row("conv4_bn_latency/batch:1", 120e-6, {"allocs/call": 0}),
]}

PYTORCH = [{"config": "passive", "results": [
    {"bench": "fc4_bn_epoch", "W": 512, "threads": 2, "median": 0.80},
    {"bench": "conv4_bn_epoch", "threads": 1, "median": 2.0},
    {"bench": "fc4_bn_latency_eager", "W": 256, "threads": 1, "batch": 1, "median": 300e-6},
    {"bench": "fc4_bn_latency_traced", "W": 256, "threads": 1, "batch": 1, "median": 45e-6},
    {"bench": "conv4_bn_latency_eager", "threads": 1, "batch": 1, "median": 400e-6},
]}]


class TargetTable(unittest.TestCase):
    def setUp(self):
        self.rh = compare.parse_gbench(RHONET)
        self.pt = compare.best_pytorch(PYTORCH)
        self.rows = {r["row"]: r for r in compare.target_rows(self.rh, self.pt)}

    def row(self, start):
        found = [r for label, r in self.rows.items() if label.startswith(start)]
        self.assertEqual(len(found), 1, start)
        return found[0]

    def check(self, start, value, status):
        r = self.row(start)
        if value is None:
            self.assertIsNone(r["value"], start)
        else:
            self.assertAlmostEqual(r["value"], value, msg=start)
        self.assertEqual(r["status"], status, start)

    def test_latency_rows_are_parsed_on_one_thread(self):
        self.assertIn(("fc4_bn_latency", 256, 1, 1), self.rh)
        self.assertIn(("conv4_bn_latency", None, 1, 1), self.rh)
        self.assertIn(("fc4_bn_weight_stream", 512, 1, None), self.rh)
        self.assertAlmostEqual(self.rh[("fc4_bn_latency", 512, 1, 1)]["median"], 80e-6)

    def test_ratios_come_from_the_named_rows(self):
        self.check("FC4-BN epoch / its GEMM-only time, W 512, 1 thread", 1.1, "met")
        self.check("FC4-BN epoch vs PyTorch, W 512, 2 threads", 2.0, "met")
        self.check("Conv4-BN epoch vs PyTorch (oneDNN), 1 thread", 0.5, "**missed**")
        self.check("Conv4-BN epoch, 2 threads / 1 thread", 0.75, "**missed**")

    def test_latency_targets(self):
        self.check("FC4-BN W=256 batch-1 latency vs PyTorch eager", 10.0, "met")
        self.check("FC4-BN W=256 batch-1 latency vs PyTorch traced", 1.5, "**missed**")
        self.check("FC4-BN W=512 batch-1 latency / weight-streaming bound", 1.25, "met")

    def test_a_missing_side_is_not_applicable(self):
        for start in ("FC4-BN epoch / its GEMM-only time, W 1024, 1 thread",
                      "Conv4-BN epoch vs PyTorch (oneDNN), 2 threads",
                      "Conv4-BN batch-1 latency vs PyTorch traced"):
            self.check(start, None, "n/a")

    def test_allocation_counts_take_the_worst_row(self):
        self.check("heap allocations per steady-state step", 2, "**missed**")
        self.check("heap allocations per predict()", 0, "met")

    def test_report_holds_every_table(self):
        main, gemm, latency = compare.build_tables(self.rh, self.pt, [512], [1, 2])
        md = compare.markdown(compare.target_rows(self.rh, self.pt), main, gemm, latency, ["env"], "5")
        for heading in ("## Targets", "## Epochs and inference passes", "## Small-batch latency",
                        "## FC4-BN epoch against its GEMM-only bound"):
            self.assertIn(heading, md)
        self.assertIn("| FC4-BN | 256 | 1 | 30.0 (nan, nan) |", md)
        self.assertEqual(sum(1 for line in md.splitlines() if line.startswith("| ") and
                             ("<= " in line or ">= " in line)), 15)


if __name__ == "__main__":
    unittest.main()
