"""dQ/dV and the first-charge plateau flag: virtual-lab cells with a known 3.8 V plateau capacity, the demo lake,
the CLI, and recomputing after a method change (append-only, the view moves to the new run)."""
from __future__ import annotations

import shutil

import numpy as np
import pyarrow as pa
import pytest

from analytics import dqdv
from analytics.runner import derive_all
from lake import store
from lake.errors import InputError
from tests.conftest import copy_lake
from virtual_lab import lab as vl


@pytest.mark.parametrize("process, densification", [("cold_calendered", 0.9), ("hot_calendered", 0.3),
                                                     ("in_situ_polymerized", 0.5)])
def test_plateau_capacity_is_recovered(process, densification):
    result = vl.simulate(vl.Recipe(process, 12.7, densification, 0.05), n_cycles=3, seed=0)
    truth_mah = result.plateau_mah_g * result.active_mass_mg / 1000
    flag = dqdv.plateau(dqdv.dqdv(vl.timeseries(result, n_cycles=3)))
    assert flag["first_charge_plateau"] is bool(truth_mah > 0)
    if truth_mah > 0:
        assert flag["plateau_voltage_v"] == pytest.approx(vl.PLATEAU_V, abs=0.015)
        assert flag["plateau_extra_capacity_mah"] == pytest.approx(truth_mah, rel=0.08)
        assert flag["peak_ratio"] > 10


def test_dqdv_integrates_to_the_capacity():
    result = vl.simulate(vl.Recipe("in_situ_polymerized", 12.7, 0.5, 0.05), n_cycles=3, seed=0)
    curves = dqdv.dqdv(vl.timeseries(result, n_cycles=3))
    mass_g = result.active_mass_mg / 1000
    for cycle, kind, truth in ((1, "charge", result.charge_capacity_mah_g[0]),
                               (2, "discharge", result.discharge_capacity_mah_g[1])):
        part = curves.filter(pa.compute.and_(pa.compute.equal(curves["cycle_index"], cycle),
                                             pa.compute.equal(curves["direction"], kind)))
        assert np.all(np.diff(part["voltage_v"].to_numpy()) == pytest.approx(dqdv.BIN_V))
        total = part["dqdv_mah_v"].to_numpy().sum() * dqdv.BIN_V
        assert total == pytest.approx(truth * mass_g, rel=1e-3)


def test_bad_series_is_refused():
    t = np.arange(0.0, 100.0)
    rest = pa.table({"test_time_second": t, "voltage_volt": np.full(t.size, 3.7), "current_ampere": np.zeros(t.size),
                     "cycle_count": pa.array(np.ones(t.size, np.int64))})
    with pytest.raises(InputError, match="no charge or discharge"):
        dqdv.dqdv(rest)
    with pytest.raises(InputError, match="cycle_count"):
        dqdv.dqdv(rest.drop(["cycle_count"]))


@pytest.fixture(scope="module")
def demo(demo_lakes, tmp_path_factory):
    root = copy_lake(demo_lakes.data, tmp_path_factory.mktemp("demo") / "lake")
    report = derive_all(root, ["dqdv", "cycling"])
    assert not [f for f in report.failed if f[0] == "dqdv"]
    return root


def test_demo_plateau_flags(demo):
    truth = {cell: bool(r.plateau_mah_g > 0) for cell, r in vl.campaign_results(40, 7)}
    rows = store.query(demo, "SELECT f.cell_id, f.first_charge_plateau, c.process FROM first_charge f "
                             "JOIN cells c USING (cell_id) ORDER BY f.cell_id").to_pylist()
    assert len(rows) == 4
    for row in rows:
        assert row["first_charge_plateau"] is truth[row["cell_id"]], row
    processes = {r["process"]: r["first_charge_plateau"] for r in rows}
    assert processes["cold_calendered"] is True and processes["in_situ_polymerized"] is False
    grid = store.query(demo, "SELECT DISTINCT round(voltage_v * 1000) % 10 AS r FROM dqdv")["r"].to_pylist()
    assert grid == [5.0]                                         # bin centres on the fixed 10 mV grid


def test_demo_cycling_matches_cell_life(demo):
    mine = {r["cell_id"]: r for r in store.query(demo, "SELECT * FROM cycling_summary").to_pylist()}
    life = store.query(demo, "SELECT * FROM cell_life").to_pylist()
    assert len(mine) == len(life) == 40
    for row in life:
        assert (mine[row["cell_id"]]["cycles_to_80"], mine[row["cell_id"]]["censored_80"]) == \
            (row["cycles_to_80"], row["censored_80"])
    pol = store.query(demo, "SELECT * FROM cycle_polarisation").to_pylist()
    assert pol and all(0 < r["polarisation_v"] < 1 for r in pol)


def test_cli_and_recompute_after_a_method_change(demo, tmp_path, cli, monkeypatch):
    root = tmp_path / "copy"
    shutil.copytree(demo, root)
    code, out, err = cli("--lake", root, "derive", "--what", "dqdv")
    assert code == 0 and "0 computed, 4 unchanged" in out and "nothing new to write" in out
    before = store.query(root, "SELECT cell_id, first_charge_plateau FROM first_charge ORDER BY 1").to_pylist()
    monkeypatch.setattr(dqdv, "METHOD_VERSION", "dqdv-next")
    code, out, err = cli("--lake", root, "derive", "--what", "dqdv")
    assert code == 0 and "4 computed" in out
    history = store.query(root, "SELECT method_version, count(*) AS n FROM first_charge_history GROUP BY 1 "
                                "ORDER BY 1").to_pylist()
    assert len(history) == 2 and "dqdv-next" in {h["method_version"] for h in history}
    assert history[0]["n"] == history[1]["n"] == 4                 # the old run is kept, not overwritten
    view = store.query(root, "SELECT cell_id, first_charge_plateau, method_version FROM first_charge "
                             "ORDER BY 1").to_pylist()
    assert [{k: r[k] for k in ("cell_id", "first_charge_plateau")} for r in view] == before
    assert {r["method_version"] for r in view} == {"dqdv-next"}
    code, out, err = cli("--lake", root, "derive", "--what", "nonsense")
    assert code == 1 and "unknown derived quantity" in err
