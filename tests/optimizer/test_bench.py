"""The benchmark scripts run end to end in their tiny configuration (the full runs are `python bench/*.py`)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import PROJECT


@pytest.mark.slow
@pytest.mark.parametrize("script, keys", [
    ("surrogate", {"summary", "noise_floor_rmse", "machine", "runs"}),
    ("optimizer", {"summary", "optimum", "latency", "random_fraction_within_5pct", "runs"}),
])
def test_benchmark_runs_in_its_quick_configuration(script, keys, tmp_path):
    run = subprocess.run([sys.executable, str(PROJECT / "bench" / f"{script}.py"), "--quick", "--workers", "1",
                          "--results", str(tmp_path)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads((tmp_path / f"{script}-quick.json").read_text())
    assert keys <= set(result) and "table" not in result          # quick runs stay out of the README table
    assert "goal" in run.stdout and "nproc" in result["machine"]
