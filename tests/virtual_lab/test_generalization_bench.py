"""bench/generalization.py runs end to end in its quick configuration on one tuning variant."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import PROJECT


@pytest.mark.slow
def test_generalization_bench_quick(tmp_path):
    run = subprocess.run([sys.executable, str(PROJECT / "bench" / "generalization.py"), "--set", "tune", "--quick",
                          "--variants", "1", "--results", str(tmp_path)], capture_output=True, text=True,
                         timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads((tmp_path / "generalization-tune-quick.json").read_text())
    assert result["config"]["variants"] == [1] and "table" not in result
    models = result["surrogate"]["summary"]
    assert {"project", "project_propose", "sk_gp", "random_forest", "gradient_boosting"} <= set(models)
    assert 0 <= models["project"]["all"]["coverage"] <= 1 and models["project"]["all"]["rmse"] > 0
    opt = result["optimizer"]["summary"]
    for method in ("project", "project_lake", "random", "tpe"):
        regret = opt[method]["best_tried_regret_frac@12"]["median_over_variants"]
        assert -0.05 <= regret <= 1                # regret of the best tried, as a fraction of the optimum
        assert opt[method]["recommended_regret_frac@12"]["median_over_variants"] >= regret - 1e-9
    assert "gp_sampler" in opt and "(b) optimizer" in run.stdout


def test_report_set_is_kept_apart():
    run = subprocess.run([sys.executable, str(PROJECT / "bench" / "generalization.py"), "--set", "tune",
                          "--variants", "101", "--part", "surrogate"], capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and "tune set" in run.stderr
