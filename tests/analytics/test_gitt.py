"""GITT (seed Eq. 1, 2): pulses with known dE_s and dE_tau, the real Neware pulse test, and bad input."""
from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from analytics import gitt
from analytics.runner import derive_all
from ingest.pipeline import ingest
from ingest.readers import detect
from lake import store
from lake.errors import InputError
from tests.conftest import CELLS_HEADER, GOOD_CELLS, lake_state, write_csv

PULSE_FILE = "neware_nda/2-1-6_61[07005012].nda"


def gitt_series(de_s, de_tau, ir=0.02, tau=1800.0, rest=1800.0, current=1e-3, e0=3.70, dt=1.0) -> pa.Table:
    """A GITT charge: rest, then per pulse E = E0 + IR + dE_tau sqrt(t/tau), then relaxation to E0 + dE_s."""
    t, v, i, step = [0.0], [e0], [0.0], [0]
    now, e, k = 0.0, e0, 0
    for ds, dtau in zip(de_s, de_tau):
        k += 1
        ts = np.arange(dt, tau + dt / 2, dt)
        t += list(now + ts)
        v += list(e + ir + dtau * np.sqrt(ts / tau))
        i += [current] * ts.size
        step += [2 * k - 1] * ts.size
        now += tau
        tr = np.arange(dt, rest + dt / 2, dt)
        end = e + ir + dtau
        t += list(now + tr)
        v += list(e + ds + (end - ir - e - ds) * np.exp(-tr / 120.0))
        i += [0.0] * tr.size
        step += [2 * k] * tr.size
        now += rest
        e += ds
    n = len(t)
    return pa.table({"test_time_second": t, "voltage_volt": v, "current_ampere": i,
                     "cycle_count": pa.array([1] * n, pa.int64()), "step_index": pa.array(step, pa.int64())})


def test_known_pulses_are_recovered():
    de_s, de_tau = [0.010, 0.020, 0.005, 0.012], [0.050, 0.040, 0.060, 0.030]
    rows = gitt.pulses(gitt_series(de_s, de_tau), particle_radius_m=5e-6).to_pylist()
    assert len(rows) == 4
    for row, ds, dtau in zip(rows, de_s, de_tau):
        assert row["delta_e_tau_method"] == "sqrt_t_extrapolation"
        assert row["delta_e_s_v"] == pytest.approx(ds, abs=1e-6)
        assert row["delta_e_tau_v"] == pytest.approx(dtau, rel=1e-3)
        assert row["ir_drop_v"] == pytest.approx(0.02, abs=1e-4)
        assert row["d1"] == pytest.approx((ds / dtau) ** 2, rel=3e-3)
        assert row["pulse_duration_s"] == pytest.approx(1800.0)
        expected_d = 4 / (math.pi * 1800.0) * (5e-6 / 3) ** 2 * (ds / dtau) ** 2      # Eq. 1
        assert row["diffusivity_m2_s"] == pytest.approx(expected_d, rel=3e-3)
        assert row["direction"] == "charge"
    assert [r["pulse_index"] for r in rows] == [1, 2, 3, 4]
    assert rows[-1]["voltage_v"] == pytest.approx(3.70 + sum(de_s), abs=1e-6)


def test_real_pulse_test_gives_d1_per_pulse(samples):
    path = samples / PULSE_FILE
    table = detect(path).read(path).tables["timeseries"]
    rows = gitt.pulses(table)
    # 15 567 records alternating a 1.7 A pulse (~0.46 s) with a 0.1 A "relaxation" (4 ms): every pulse after the
    # first record (which has no relaxation before it) pairs up
    assert rows.num_rows == 7782
    d = rows.to_pydict()
    assert set(d["direction"]) == {"discharge"} and set(d["delta_e_tau_method"]) == {"includes_ir_drop"}
    assert all(x is not None and x >= 0 for x in d["d1"])
    v, t = table["voltage_volt"].to_numpy(), table["test_time_second"].to_numpy()
    # pulse k (1-based) is record 2k; the relaxed voltages are records 2k-1 and 2k+1 — checked by hand
    for k in (1, 100, 7782):
        assert d["delta_e_s_v"][k - 1] == pytest.approx(v[2 * k + 1] - v[2 * k - 1])
        assert d["delta_e_tau_v"][k - 1] == pytest.approx(v[2 * k] - v[2 * k - 1])
        assert d["pulse_duration_s"][k - 1] == pytest.approx(t[2 * k] - t[2 * k - 1])
    assert d["voltage_v"][0] > d["voltage_v"][-1]                  # discharging: the relaxed voltage falls


def test_no_pulses_is_a_clear_input_error():
    t = np.arange(0, 3600.0, 10.0)
    cc = pa.table({"test_time_second": t, "voltage_volt": 3.6 + t / 1e4, "current_ampere": np.full(t.size, 1e-3)})
    with pytest.raises(InputError, match="no GITT pulses found"):
        gitt.pulses(cc)
    with pytest.raises(InputError, match="lacks a required column"):
        gitt.pulses(cc.drop(["current_ampere"]))


def _lake_with_series(lake, tmp_path, table: pa.Table):
    cells = write_csv(tmp_path / "cells.csv", CELLS_HEADER, GOOD_CELLS)
    path = tmp_path / "A1.bdf.csv"
    names = table.column_names
    cols = [table[n].to_pylist() for n in names]
    write_csv(path, names, [list(r) for r in zip(*cols)])
    outcomes = ingest(lake, [cells, path], progress=False)
    assert all(o.status == "ingested" for o in outcomes), [o.reason for o in outcomes]


def test_derive_writes_pulses_and_refuses_cleanly(lake, tmp_path):
    _lake_with_series(lake, tmp_path, gitt_series([0.01] * 3, [0.05] * 3, dt=30.0))
    report = derive_all(lake, "gitt", options={"particle_radius_m": 5e-6})
    assert report.computed["gitt"] == 1 and not report.failed
    rows = store.query(lake, "SELECT * FROM gitt_pulses ORDER BY pulse_index").to_pylist()
    assert [r["cell_id"] for r in rows] == ["A1"] * 3 and rows[0]["method_version"] == gitt.METHOD_VERSION
    assert rows[0]["d1"] == pytest.approx(0.04, rel=0.05) and rows[0]["diffusivity_m2_s"] > 0
    again = derive_all(lake, "gitt", options={"particle_radius_m": 5e-6})
    assert again.unchanged["gitt"] == 1 and again.lake_version is None


def test_time_series_without_pulses_leaves_the_lake_unchanged(lake, tmp_path):
    t = np.arange(0, 3600.0, 10.0)
    _lake_with_series(lake, tmp_path, pa.table({"test_time_second": t, "voltage_volt": 3.6 + t / 1e4,
                                                "current_ampere": np.full(t.size, 1e-3)}))
    before = lake_state(lake)
    with pytest.raises(InputError, match="no GITT pulses found"):
        derive_all(lake, "gitt", strict=True)
    report = derive_all(lake, "gitt")
    assert report.lake_version is None and "no GITT pulses found" in report.failed[0][2]
    assert lake_state(lake) == before
    assert store.query(lake, "SELECT count(*) AS n FROM gitt_pulses_history")["n"][0].as_py() == 0
