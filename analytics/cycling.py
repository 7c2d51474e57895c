"""Cycling metrics per cell (from `cycles`) and voltage polarisation per cycle (from `cycles` or `timeseries`).

Method (METHOD_VERSION cycling-3):
- Rows of `cycles` without a finite, non-negative discharge capacity are skipped and counted (never propagated).
- Retention, cycles_to_X and censoring follow the one rule of lake/cycle_life.py (as the `retention` and
  `cell_life` views): cycles counted as cycles run, baseline = best of the first three, a short (cycles
  `end_of_test = short`) a failure at its cycle.
- Fade rate = minus the least-squares slope of retention against cycle over the cycles with capacity.
- Mean CE over cycles 2..last; first-cycle CE apart (formation loss).
- Early-life features over cycles 1..N (N = options['early_cycles'], default analytics.early_life.EARLY_CYCLES):
  slope of discharge capacity and mean CE over cycles 2..N (analytics/early_life.py, which the models' early-life
  model also uses), and Severson's log10 var(Q_100(V) - Q_10(V)) of the discharge curves when the cell's time
  series holds cycles 10 and 100.
- Polarisation per cycle = mean charge minus mean discharge voltage, both as the per-cycle summary defines them
  (ingest/cycle_summary.py): from the cycles columns when present, else summarised from the cell's time series.
"""
from __future__ import annotations

import math

import numpy as np
import pyarrow as pa

from ingest.cycle_summary import summarise_cycles
from lake import cycle_life
from lake.errors import InputError

from . import common, early_life
from .runner import Unit

QUANTITY = "cycling"
METHOD_VERSION = "cycling-3"           # 2: the lake-wide cycle-life rule (cycles run, baseline cycle); 3: shorts
TABLES = ("cycling_summary_history", "cycle_polarisation_history")
DQ_CYCLES = (10, 100)
DQ_GRID = 1000


def summary(cycles: pa.Table, cell: dict | None = None, early_cycles: int = early_life.EARLY_CYCLES,
            delta_q_var_log10: float | None = None) -> dict:
    """One cycling_summary row for one cell's cycles (cycle_index, discharge/charge capacity, CE)."""
    cell = cell or {}
    idx = np.asarray(cycles["cycle_index"].to_numpy(zero_copy_only=False), dtype=np.int64)
    def col(name):
        if name not in cycles.column_names:
            return np.full(idx.size, np.nan)
        return np.asarray(cycles[name].cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False))
    q_g, q_mah, ce = col("discharge_capacity_mah_g"), col("discharge_capacity_mah"), col("coulombic_efficiency_frac")
    q = np.where(np.isfinite(q_g), q_g, q_mah)
    ends = cycles["end_of_test"].to_pylist() if "end_of_test" in cycles.column_names else []
    shorts = [i for i, e in zip(idx, ends) if e == cycle_life.SHORT]
    rule = cycle_life.life(idx, q, (80, 70), short_index=min(shorts) if shorts else None)
    if rule["cycles_tested"] is None:
        raise InputError("no cycle with a finite discharge capacity.", expected="cycles rows with a capacity",
                         found=f"{rule['n_skipped']} rows without one")
    ok = cycle_life.counted(q)
    order = np.argsort(idx[ok], kind="stable")
    q_g, q_mah, ce = (a[ok][order] for a in (q_g, q_mah, ce))
    idx, q, retention = rule["cycle_number"], rule["capacity"], rule["retention"]
    alive = q > 0
    area, loading = common.number(cell.get("electrode_area_cm2")), common.number(cell.get("loading_mg_cm2"))
    first_cm2 = (q_g[0] * loading / 1000 if loading and math.isfinite(q_g[0]) else
                 q_mah[0] / area if area and math.isfinite(q_mah[0]) else None)
    first = idx <= cycle_life.BASELINE_CYCLES
    later, finite_ce = idx > 1, np.isfinite(ce)
    early = early_life.features(idx, retention, ce, q, early_cycles)
    return {
        "first_discharge_capacity_mah_g": float(q_g[0]) if math.isfinite(q_g[0]) else None,
        "first_discharge_capacity_mah_cm2": first_cm2,
        "initial_capacity_mah_g": float(np.nanmax(q_g[first])) if np.isfinite(q_g[first]).any() else None,
        **{k: rule[k] for k in ("cycles_tested", "cycles_to_80", "censored_80", "cycles_to_70", "censored_70",
                                "last_retention_frac")},
        "mean_coulombic_efficiency_frac": float(np.mean(ce[later & finite_ce])) if (later & finite_ce).any() else None,
        "first_coulombic_efficiency_frac": float(ce[0]) if finite_ce[0] else None,
        "capacity_fade_frac_per_cycle": -s if (s := early_life.slope(idx[alive], retention[alive])) is not None
        else None,
        **{k: early[k] for k in ("early_cycles", "early_capacity_slope_mah_g_per_cycle",
                                 "early_mean_coulombic_efficiency_frac")},
        "early_delta_q_var_log10": delta_q_var_log10,
        "nan_cycles_skipped": rule["n_skipped"],
    }


def _discharge_curve(s: dict, cycle: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(voltage, discharged capacity in Ah) of one cycle's discharge, integrating the current."""
    sel = (s["cycle_count"] == cycle) & (s["current_ampere"] < 0)
    if sel.sum() < 3:
        return None
    t, v, i = s["test_time_second"][sel], s["voltage_volt"][sel], s["current_ampere"][sel]
    return v, np.cumsum(-i * np.diff(t, prepend=t[0])) / 3600.0


def delta_q_variance(table: pa.Table, cycles: tuple[int, int] = DQ_CYCLES) -> float | None:
    """Severson's feature: log10 of the variance of Q_late(V) - Q_early(V) on a common discharge voltage grid."""
    s, _ = common.series(table)
    if s["cycle_count"] is None:
        return None
    curves = [_discharge_curve(s, c) for c in cycles]
    if any(c is None for c in curves):
        return None
    lo, hi = max(np.min(v) for v, _ in curves), min(np.max(v) for v, _ in curves)
    if not hi > lo:
        return None
    grid = np.linspace(lo, hi, DQ_GRID)
    qs = []
    for v, q in curves:                   # discharge: voltage falls as capacity grows; interpolate Q(V)
        order = np.argsort(v, kind="stable")
        qs.append(np.interp(grid, v[order], q[order]))
    var = float(np.var(qs[1] - qs[0]))
    return math.log10(var) if var > 0 else None


def polarisation(table: pa.Table) -> pa.Table:
    """Per cycle of a time series: its mean charge and discharge voltages as the per-cycle summary defines them
    (ingest/cycle_summary.py, what ingest stores in `cycles`), and their difference."""
    if "cycle_count" not in table.column_names:
        raise InputError("the time series has no cycle_count column.", column="cycle_count")
    common.series(table)                                   # the required columns, named when missing
    rows = summarise_cycles(table).to_pylist()
    return pa.Table.from_pylist([
        {"cycle_index": r["cycle_index"], "mean_charge_voltage_v": r["mean_charge_voltage_v"],
         "mean_discharge_voltage_v": r["mean_discharge_voltage_v"],
         "polarisation_v": r["mean_charge_voltage_v"] - r["mean_discharge_voltage_v"], "basis": "timeseries"}
        for r in rows if common.number(r["mean_charge_voltage_v"]) is not None
        and common.number(r["mean_discharge_voltage_v"]) is not None])


def plan(read, options: dict) -> list[Unit]:
    early = int(options.get("early_cycles") or early_life.EARLY_CYCLES)
    cells = common.cells(read)
    stats = {r["cell_id"]: r for r in read("SELECT cell_id, count(*) AS n, max(lake_version) AS v FROM cycles "
                                           "GROUP BY cell_id").to_pylist()}
    files: dict[str, list[str]] = {}
    for f in common.timeseries_files(read):
        files.setdefault(f["cell_id"], []).append(f["source_sha256"])
    units = []
    for cell_id in sorted(set(stats) | set(files)):
        st, shas = stats.get(cell_id, {}), files.get(cell_id, [])
        fp = common.fingerprint(st.get("n"), st.get("v"), ",".join(shas), cells.get(cell_id, {}).get("record"),
                                early)
        units.append(Unit(cell_id, fp, _compute(read, cell_id, cells.get(cell_id), shas, early, bool(st))))
    return units


def _compute(read, cell_id: str, cell: dict | None, shas: list[str], early: int, has_cycles: bool):
    def compute() -> dict[str, pa.Table]:
        series = [common.load_series(read, sha) for sha in shas]
        out = {}
        if has_cycles:
            cycles = read("SELECT * FROM cycles WHERE cell_id = ? ORDER BY cycle_index", [cell_id])
            dq = next((x for x in (delta_q_variance(t) for t in series) if x is not None), None)
            out["cycling_summary_history"] = pa.Table.from_pylist(
                [{"cell_id": cell_id, **summary(cycles, cell, early, dq)}])
            pol = _from_cycles(cycles)
        else:
            pol = pa.table({})
        if not pol.num_rows and series:
            pol = pa.concat_tables([polarisation(t) for t in series], promote_options="default")
        if pol.num_rows:
            out["cycle_polarisation_history"] = pol.append_column("cell_id", pa.array([cell_id] * pol.num_rows))
        return out
    return compute


def _from_cycles(cycles: pa.Table) -> pa.Table:
    if not {"mean_charge_voltage_v", "mean_discharge_voltage_v"} <= set(cycles.column_names):
        return pa.table({})
    rows = [{"cycle_index": r["cycle_index"], "mean_charge_voltage_v": r["mean_charge_voltage_v"],
             "mean_discharge_voltage_v": r["mean_discharge_voltage_v"],
             "polarisation_v": r["mean_charge_voltage_v"] - r["mean_discharge_voltage_v"], "basis": "cycles"}
            for r in cycles.to_pylist()
            if common.number(r["mean_charge_voltage_v"]) and common.number(r["mean_discharge_voltage_v"])]
    return pa.Table.from_pylist(rows)
