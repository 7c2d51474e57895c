"""dQ/dV per cycle on a fixed voltage grid, and the first-charge plateau flag (seed: the 3.8 V plateau of Cal cells).

Method (METHOD_VERSION dqdv-1):
- Capacity increments: within each run of samples of one cycle and direction (charge I > 0, discharge I < 0), the
  increments of the cycler's step capacity (charging_/discharging_capacity_ah; the first sample of a step carries the
  capacity since the step began), else |I| dt. Each increment is assigned to the mean voltage of its interval and
  summed into fixed 10 mV bins (edges at multiples of 10 mV): a voltage histogram of capacity, which is robust to
  noise and to flat plateaus (dV -> 0), then smoothed with a Gaussian of 1.5 bins.
- Plateau flag: the most prominent first-charge dQ/dV peak with its top in 3.7-3.9 V (height above the mean of the
  curve 60 mV either side). Its extra capacity = area above the straight line joining the curve 60 mV either side
  (a plateau adds a narrow peak; NCM's own features are broad and nearly linear over 120 mV). Flag when that area is
  >= 4 % of the first charge and the later charges (up to three; the plateau is irreversible) have less than half
  of it at the same voltage; peak_ratio = first / later area. A cell tested for one cycle is judged on its first
  charge alone (reference_cycles empty).
- Per cell, the time-series file holding the cell's lowest cycle number is used (the one with the first charge).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.ndimage import gaussian_filter1d

from lake.errors import InputError

from . import common
from .runner import Unit

QUANTITY = "dqdv"
METHOD_VERSION = "dqdv-1"
TABLES = ("dqdv_history", "first_charge_history")
BIN_V, SMOOTH_BINS = 0.010, 1.5
WINDOW_V = (3.7, 3.9)
MIN_RATIO, MIN_EXTRA_FRAC, HALF_WIDTH_V = 2.0, 0.04, 0.06
REFERENCE_CYCLES = 3


def increments(s: dict, sel: np.ndarray, direction: str) -> tuple[np.ndarray, np.ndarray]:
    """(interval mean voltage, capacity increment in Ah) for the selected samples of one direction."""
    idx = np.flatnonzero(sel)
    if idx.size == 0:
        return np.empty(0), np.empty(0)
    t, v, i = s["test_time_second"], s["voltage_volt"], s["current_ampere"]
    cap = s["charging_capacity_ah" if direction == "charge" else "discharging_capacity_ah"]
    step = s["step_count"] if s["step_count"] is not None else s["step_index"]
    new = np.ones(idx.size, dtype=bool)
    new[1:] = np.diff(idx) != 1
    if step is not None:
        new[1:] |= step[idx[1:]] != step[idx[:-1]]
    v_prev = np.where(new, v[idx], v[idx - 1])
    if cap is not None and np.isfinite(cap[idx]).all():
        dq = np.where(new, np.abs(cap[idx]), np.abs(cap[idx] - cap[idx - 1]))
    else:
        dq = np.where(new, 0.0, np.abs(i[idx]) * (t[idx] - t[idx - 1]) / 3600.0)
    return (v[idx] + v_prev) / 2, dq


def curve(v_mid: np.ndarray, dq_ah: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """(bin centres in V, dQ/dV in mAh/V) on the fixed grid covering [lo, hi]."""
    pad = int(np.ceil(4 * SMOOTH_BINS))            # room for the smoothing tails: the integral is kept
    k0, k1 = int(np.floor(lo / BIN_V + 1e-9)) - pad, int(np.ceil(hi / BIN_V - 1e-9)) + pad
    edges = np.arange(k0, max(k1, k0 + 1) + 1) * BIN_V
    hist, _ = np.histogram(np.clip(v_mid, edges[0], edges[-1]), bins=edges, weights=dq_ah * 1000.0)
    return (edges[:-1] + edges[1:]) / 2, gaussian_filter1d(hist / BIN_V, SMOOTH_BINS, mode="constant")


def dqdv(table: pa.Table) -> pa.Table:
    """Long table (cycle_index, direction, voltage_v, dqdv_mah_v) of one time series, every cycle and direction."""
    s, _ = common.series(table)
    if s["cycle_count"] is None:
        raise InputError("dQ/dV needs cycle numbers: the time series has no cycle_count column.", column="cycle_count")
    v = s["voltage_volt"]
    lo, hi = float(np.min(v)), float(np.max(v))
    parts = []
    for cycle in np.unique(s["cycle_count"]):
        for direction, sign in (("charge", 1), ("discharge", -1)):
            sel = (s["cycle_count"] == cycle) & (np.sign(s["current_ampere"]) == sign)
            vm, dq = increments(s, sel, direction)
            if dq.sum() <= 0:
                continue
            grid, y = curve(vm, dq, lo, hi)
            parts.append(pa.table({"cycle_index": pa.array(np.full(grid.size, int(cycle))),
                                   "direction": pa.array([direction] * grid.size),
                                   "voltage_v": pa.array(np.round(grid, 6)), "dqdv_mah_v": pa.array(y)}))
    if not parts:
        raise InputError("dQ/dV: no charge or discharge with capacity in the time series.")
    return pa.concat_tables(parts)


def _peak_area(grid: np.ndarray, y: np.ndarray, v_peak: float) -> float:
    """Area (mAh) of y above the straight line joining y(v_peak - w) and y(v_peak + w)."""
    x = np.linspace(v_peak - HALF_WIDTH_V, v_peak + HALF_WIDTH_V, int(round(2 * HALF_WIDTH_V / BIN_V)) + 1)
    yy = np.interp(x, grid, y, left=0.0, right=0.0)
    line = np.interp(x, x[[0, -1]], yy[[0, -1]])
    return float(np.sum((yy - line)[1:-1]) * BIN_V)


def plateau(curves: pa.Table) -> dict:
    """First-charge plateau test on a dqdv table (see the module doc)."""
    charge = curves.filter(pc.equal(curves["direction"], "charge"))
    cycles = sorted(set(charge["cycle_index"].to_pylist()))
    if not cycles:
        raise InputError("the plateau test needs a charge.", expected="a charge in the time series", found="none")
    def y(c):
        part = charge.filter(pc.equal(charge["cycle_index"], c))
        return part["voltage_v"].to_numpy(), part["dqdv_mah_v"].to_numpy()
    grid, first = y(cycles[0])
    inside = np.flatnonzero((grid >= WINDOW_V[0] - 1e-9) & (grid <= WINDOW_V[1] + 1e-9))
    total = float(first.sum() * BIN_V)
    if inside.size == 0:
        raise InputError("the first charge does not reach the 3.7-3.9 V window.", expected="charge through 3.7-3.9 V",
                         found=f"{grid[0]:.2f}-{grid[-1]:.2f} V")
    prominence = [first[k] - 0.5 * (np.interp(grid[k] - HALF_WIDTH_V, grid, first)
                                    + np.interp(grid[k] + HALF_WIDTH_V, grid, first)) for k in inside]
    v_peak = float(grid[inside[int(np.argmax(prominence))]])
    area = _peak_area(grid, first, v_peak)
    refs = cycles[1:1 + REFERENCE_CYCLES]
    ref_area = float(np.mean([_peak_area(*y(c), v_peak) for c in refs])) if refs else None
    ratio = area / ref_area if ref_area and ref_area > 0 else None
    lacks = ref_area is None or ref_area < area / MIN_RATIO
    flag = bool(area >= MIN_EXTRA_FRAC * total and lacks)
    return {"first_charge_plateau": flag, "plateau_voltage_v": v_peak, "plateau_extra_capacity_mah": max(area, 0.0),
            "peak_ratio": ratio, "first_charge_capacity_mah": total, "reference_cycles": ",".join(map(str, refs))}


def plan(read, options: dict) -> list[Unit]:
    cells = common.cells(read)
    chosen: dict[str, dict] = {}
    for f in common.timeseries_files(read):       # per cell: the file with the lowest first cycle
        best = chosen.get(f["cell_id"])
        if best is None or (f["first_cycle"] or 0) < (best["first_cycle"] or 0):
            chosen[f["cell_id"]] = f
    return [Unit(cell, common.fingerprint(f["source_sha256"], f["rows"], cells.get(cell, {}).get("record")),
                 _compute(read, cell, f["source_sha256"], cells.get(cell, {})))
            for cell, f in sorted(chosen.items())]


def _compute(read, cell_id: str, sha: str, cell: dict):
    def compute() -> dict[str, pa.Table]:
        curves = dqdv(common.load_series(read, sha))
        mass_g = (common.number(cell.get("active_mass_mg")) or 0) / 1000 or None
        n = curves.num_rows
        per_g = pc.divide(curves["dqdv_mah_v"], mass_g) if mass_g else pa.nulls(n, pa.float64())
        curves = (curves.append_column("dqdv_mah_g_v", per_g).append_column("cell_id", pa.array([cell_id] * n))
                  .append_column("source_sha256", pa.array([sha] * n)))
        out = {"dqdv_history": curves}
        try:
            flag = plateau(curves)
        except InputError:
            return out                          # dQ/dV stands; the plateau test needs two charges
        flag["plateau_extra_capacity_mah_g"] = flag["plateau_extra_capacity_mah"] / mass_g if mass_g else None
        out["first_charge_history"] = pa.Table.from_pylist([{"cell_id": cell_id, "source_sha256": sha, **flag}])
        return out
    return compute
