"""bench/early_life.py's core on one tuning variant: the early-life model trained as `cathode train` trains it,
scored on fresh cells still above 80 % at cycle 50, next to the recipe-only model."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from bench.early_life import evaluate, fresh_cells
from tests.conftest import PROJECT


def test_test_cells_are_alive_at_cycle_n_and_seen_only_that_far():
    frame, cycles, recipes = fresh_cells(1, 30, 50)
    assert frame.height == len(recipes) == 30
    assert (frame["cycles_to_80"] > 50).all() and not frame["censored_80"].any()     # truth from the long test
    assert cycles["cycle_number"].max() == 50 and cycles["cell_id"].n_unique() == 30


def test_early_life_bench_on_one_tuning_variant():
    out = evaluate(1, n_train=60, n_test=40)
    assert out["test_cells"] == 40 and 8 <= out["train_cells_eligible"] <= 60
    early, peer = out["models"]["early_life"]["all"], out["models"]["recipe_only"]["all"]
    assert 0 <= early["coverage"] <= 1 and 0 <= peer["coverage"] <= 1
    assert early["rmse"] < peer["rmse"]                     # the first 50 cycles tell the model something
    assert min(out["cells"]["truth"]) > np.log10(50)


def test_report_set_is_kept_apart(tmp_path):
    run = subprocess.run([sys.executable, str(PROJECT / "bench" / "early_life.py"), "--set", "tune",
                          "--variants", "101", "--results", str(tmp_path)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode != 0 and "tune set" in run.stderr and not list(tmp_path.iterdir())


def test_a_lab_with_too_few_cells_alive_at_cycle_n_is_listed_not_scored():
    out = evaluate(1, n_train=40, n_test=10)             # 6 of 40 cells alive at cycle 50: no early-life model
    assert "too few cells for the early-life model" in out["skipped"] and "models" not in out
