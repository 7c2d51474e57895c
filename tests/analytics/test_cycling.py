"""Cycling metrics: retention, censored cycle life, CE, fade, early-life features, polarisation; NaN rows skipped."""
from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from analytics import cycling
from analytics.runner import derive_all
from ingest.pipeline import ingest
from lake import store
from tests.conftest import CELLS_HEADER, CYCLES_HEADER, GOOD_CELLS, good_cycles, write_csv


def cycles_table(rows) -> pa.Table:
    cols = list(zip(*rows))
    return pa.table({"cycle_index": pa.array(cols[1], pa.int64()), "discharge_capacity_mah_g": pa.array(cols[2]),
                     "charge_capacity_mah_g": pa.array(cols[3]),
                     "coulombic_efficiency_frac": pa.array([d / c for d, c in zip(cols[2], cols[3])])})


def test_summary_of_known_cells():
    a1 = cycling.summary(cycles_table([r for r in good_cycles() if r[0] == "A1"]), {"loading_mg_cm2": 12.7})
    assert (a1["cycles_to_80"], a1["censored_80"], a1["cycles_tested"]) == (10, True, 10)
    assert a1["first_discharge_capacity_mah_g"] == 179 and a1["initial_capacity_mah_g"] == 179
    assert a1["first_discharge_capacity_mah_cm2"] == pytest.approx(179 * 12.7 / 1000)
    assert a1["last_retention_frac"] == pytest.approx(170 / 179)
    assert a1["capacity_fade_frac_per_cycle"] == pytest.approx(1 / 179)          # 1 mAh/g per cycle
    assert a1["early_capacity_slope_mah_g_per_cycle"] == pytest.approx(-1.0)
    ce = [(180 - n) / (182 - n) for n in range(2, 11)]
    assert a1["mean_coulombic_efficiency_frac"] == pytest.approx(np.mean(ce))
    b1 = cycling.summary(cycles_table([r for r in good_cycles() if r[0] == "B1"]))
    # best of cycles 1-3 is 175; 135 / 175 = 0.771 < 0.8 at cycle 5, 120 / 175 = 0.686 < 0.7 at cycle 6
    assert (b1["cycles_to_80"], b1["censored_80"], b1["cycles_to_70"], b1["censored_70"]) == (5, False, 6, False)


def test_nan_rows_are_skipped_and_counted():
    rows = [r for r in good_cycles() if r[0] == "A1"]
    clean = cycling.summary(cycles_table(rows))
    dirty = rows[:4] + [["A1", 99, float("nan"), 100.0]] + rows[4:]
    table = cycles_table(dirty)
    table = table.set_column(1, "discharge_capacity_mah_g",
                             pa.array([None if math.isnan(x) else x for x in table[1].to_pylist()], pa.float64()))
    got = cycling.summary(table)
    assert got["nan_cycles_skipped"] == 1
    assert {k: v for k, v in got.items() if k != "nan_cycles_skipped"} == \
        {k: v for k, v in clean.items() if k != "nan_cycles_skipped"}


def _discharges(capacities_ah: dict[int, float], n=200) -> pa.Table:
    """Linear discharge curves V = 4.2 - 1.4 q / Q_n at 1 s steps, one per cycle."""
    t, v, i, c, now = [], [], [], [], 0.0
    for cycle, q_total in capacities_ah.items():
        current = -q_total * 3600 / n                       # n seconds to empty
        q = np.arange(1, n + 1) * q_total / n
        t += list(now + np.arange(1, n + 1))
        v += list(4.2 - 1.4 * q / q_total)
        i += [current] * n
        c += [cycle] * n
        now += n + 10
    return pa.table({"test_time_second": t, "voltage_volt": v, "current_ampere": i,
                     "cycle_count": pa.array(c, pa.int64())})


def test_severson_delta_q_variance():
    # Q_100(V) = 0.9 Q_10(V), linear in V: dQ(V) runs linearly over 0 .. 0.1 Q, its variance is (0.1 Q)^2 / 12
    q = 2e-3
    got = cycling.delta_q_variance(_discharges({10: q, 100: 0.9 * q}))
    assert got == pytest.approx(math.log10((0.1 * q) ** 2 / 12), abs=0.01)
    assert cycling.delta_q_variance(_discharges({10: q, 50: q})) is None      # no cycle 100: no feature


def test_polarisation_from_a_time_series():
    t = np.arange(0, 200.0)
    table = pa.table({"test_time_second": t, "voltage_volt": np.where(t < 100, 3.9, 3.7),
                      "current_ampere": np.where(t < 100, 1e-3, -1e-3), "cycle_count": pa.array([1] * 200)})
    (row,) = cycling.polarisation(table).to_pylist()
    assert row["polarisation_v"] == pytest.approx(0.2) and row["basis"] == "timeseries"


def test_derive_cycling_in_the_lake(lake, tmp_path):
    cells = write_csv(tmp_path / "cells.csv", CELLS_HEADER, GOOD_CELLS)
    cycles = write_csv(tmp_path / "cycles.csv", CYCLES_HEADER, good_cycles())
    assert all(o.status == "ingested" for o in ingest(lake, [cells, cycles], progress=False))
    report = derive_all(lake, "cycling")
    assert report.computed["cycling"] == 2 and report.rows["cycling_summary_history"] == 2
    rows = {r["cell_id"]: r for r in store.query(lake, "SELECT * FROM cycling_summary").to_pylist()}
    life = {r["cell_id"]: r for r in store.query(lake, "SELECT * FROM cell_life").to_pylist()}
    for cell in ("A1", "B1"):
        assert rows[cell]["cycles_to_80"] == life[cell]["cycles_to_80"]
        assert rows[cell]["method_version"] == cycling.METHOD_VERSION
    assert derive_all(lake, "cycling").unchanged["cycling"] == 2
    more = write_csv(tmp_path / "more.csv", CYCLES_HEADER, [["A1", 11, 100, 101]])   # new input rows
    assert ingest(lake, [more], progress=False)[0].status == "ingested"
    again = derive_all(lake, "cycling")
    assert again.computed["cycling"] == 1 and again.unchanged["cycling"] == 1
    a1 = store.query(lake, "SELECT * FROM cycling_summary WHERE cell_id = 'A1'").to_pylist()
    assert len(a1) == 1 and a1[0]["cycles_to_80"] == 11 and a1[0]["censored_80"] is False
    assert store.query(lake, "SELECT count(*) AS n FROM cycling_summary_history")["n"][0].as_py() == 3


def test_polarisation_reads_the_mean_voltages_ingest_stores(samples):
    """One definition of a cycle's mean voltages: the per-cycle summary ingest writes into `cycles`."""
    from ingest.cycle_summary import summarise_cycles
    from ingest.readers import detect
    path = samples / "neware_ndax" / "TESTCELL0001-B2-2025-M50T_NewareNDA_Investigation.ndax"
    table = detect(path).read(path).tables["timeseries"]
    summary = {r["cycle_index"]: r for r in summarise_cycles(table).to_pylist()}
    rows = cycling.polarisation(table).to_pylist()
    assert rows
    for row in rows:
        assert row["mean_charge_voltage_v"] == summary[row["cycle_index"]]["mean_charge_voltage_v"]
        assert row["mean_discharge_voltage_v"] == summary[row["cycle_index"]]["mean_discharge_voltage_v"]
