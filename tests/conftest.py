"""Shared fixtures: temporary lakes on disk, the real sample files beside the project, a CLI runner, and the demo
lake, built once per test run."""
from __future__ import annotations

import csv
import io
import shutil
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.cli import main
from lake import store

PROJECT = Path(__file__).resolve().parents[1]
SAMPLES = PROJECT.parent / "shared" / "samples"
DESIGN = PROJECT.parent / "shared" / "design"


@pytest.fixture
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"sample instrument files not found at {SAMPLES} (CI provides ../shared beside the clone)")
    return SAMPLES


@pytest.fixture
def lake(tmp_path) -> Path:
    """An empty lake in a temporary folder."""
    return store.init(tmp_path / "lake")


@pytest.fixture(scope="session")
def cli():
    """Run `cathode ARGS...` in-process; returns (exit code, stdout, stderr)."""
    def run(*args) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:            # argparse usage errors
                code = exc.code
        return code, out.getvalue(), err.getvalue()
    return run


DEMO_CELLS = 40            # `cathode demo`'s default: the session's demo lake is the one a user gets


@dataclass(frozen=True)
class DemoLakes:
    data: Path             # `cathode demo --no-app --no-loop`: every input ingested and derived, no models yet
    full: Path             # then `cathode demo --no-app` on a copy: models trained, a first batch proposed
    build_output: str      # what the first command printed
    loop_output: str       # what the second printed (only duplicates, then the loop)


@pytest.fixture(scope="session")
def demo_lakes(tmp_path_factory, cli) -> DemoLakes:
    """The demo, built once per test run through the CLI as a user runs it. Tests that write take a copy
    (`demo_data_copy`, `demo_full_copy`); the bulk views re-point to a copied folder on first open."""
    base = tmp_path_factory.mktemp("demo-session")
    code, build_out, err = cli("--lake", base / "data", "demo", "--no-app", "--no-loop")
    assert code == 0, err
    shutil.copytree(base / "data", base / "full")
    code, loop_out, err = cli("--lake", base / "full", "demo", "--no-app")
    assert code == 0, err
    return DemoLakes(base / "data", base / "full", build_out, loop_out)


def copy_lake(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


@pytest.fixture
def demo_data_copy(demo_lakes, tmp_path) -> Path:
    """A private copy of the session's demo lake before training (44 cells, derived, no models)."""
    return copy_lake(demo_lakes.data, tmp_path / "demo")


@pytest.fixture
def demo_full_copy(demo_lakes, tmp_path) -> Path:
    """A private copy of the session's demo lake with models and a first batch of proposals."""
    return copy_lake(demo_lakes.full, tmp_path / "demo-full")


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(header)
        out.writerows(rows)
    return path


CELLS_HEADER = ["cell_id", "process", "loading_mg_cm2", "eca_wt_frac", "temperature_c", "voltage_max_v", "c_rate",
                "active_mass_mg", "porosity_frac"]
GOOD_CELLS = [["A1", "in_situ_polymerized", 12.7, 0.05, 60, 4.2, 0.1, 12.7, 0.02],
              ["B1", "cold_calendered", 12.7, 0, 60, 4.2, 0.1, 12.7, 0.25]]
CYCLES_HEADER = ["cell_id", "cycle_index", "discharge_capacity_mah_g", "charge_capacity_mah_g"]


def good_cycles() -> list[list]:
    """A1 keeps 100 -> 91 % over 10 cycles (censored at 80 %); B1 falls 10 % per cycle after cycle 3."""
    rows = [["A1", n, 180 - n, 182 - n] for n in range(1, 11)]
    caps = [170, 175, 172, 150, 135, 120, 105]
    rows += [["B1", n, c, c + 5] for n, c in enumerate(caps, start=1)]
    return rows


def lake_state(root: Path) -> dict:
    """Lake version and the row count of every data table: equal before and after a rejected input."""
    counts = store.query(root, """
        SELECT (SELECT coalesce(max(lake_version), 0) FROM commits) AS version,
               (SELECT count(*) FROM cells) AS cells, (SELECT count(*) FROM cycles) AS cycles,
               (SELECT count(*) FROM timeseries) AS timeseries, (SELECT count(*) FROM literature) AS literature,
               (SELECT count(*) FROM eis_points) AS eis_points, (SELECT count(*) FROM microstructure) AS micro,
               (SELECT count(*) FROM bulk_files) AS bulk_files,
               (SELECT count(*) FROM sources WHERE status = 'ingested') AS ingested""").to_pylist()[0]
    counts["files"] = sorted(str(p.relative_to(root)) for p in (root / "data").rglob("*") if p.is_file())
    return counts
