"""GITT: pulse/relaxation pairs in a time series -> dE_s, dE_tau, D1 = (dE_s/dE_tau)^2 (seed Eq. 2) and
D = 4/(pi t) (R_s/3)^2 D1 (Eq. 1) when the mean particle radius R_s is given.

Method (METHOD_VERSION 1):
1. Split the series into runs of constant current (a new run where the current moves by more than 2 % of the
   largest |I|, or the step changes). A run is a *relaxation* when |I| <= 20 % of the largest |I| (zero in classic
   GITT; a small base current in pulse tests), else a *pulse*.
2. A pulse counts when a relaxation precedes and follows it and it belongs to a train of >= 3 such pulses of the same
   sign and current within 10 % (so a charge/rest/discharge cycling protocol is not taken for GITT).
3. Samples close their interval (cycler convention): the pulse starts at the last relaxed sample (E_0, t_0) and
   lasts t = t_end - t_0. dE_s = E(after relaxation) - E_0. dE_tau = E(end of pulse) - E(pulse start after the IR
   drop), the start found by extrapolating E against sqrt(t - t_0) over the first quarter of the pulse (>= 3 samples;
   Weppner-Huggins), else the first pulse sample; a pulse sampled once gives dE_tau including the IR drop
   (delta_e_tau_method says which).
"""
from __future__ import annotations

import math

import numpy as np
import pyarrow as pa

from lake.errors import InputError

from . import common
from .runner import Unit

QUANTITY = "gitt"
METHOD_VERSION = "gitt-1"
TABLES = ("gitt_pulses_history",)
STEP_TOL, REST_FRAC, TRAIN_TOL, MIN_TRAIN = 0.02, 0.20, 0.10, 3


def runs(current: np.ndarray, step: np.ndarray | None = None) -> list[tuple[int, int]]:
    """[start, end) index ranges of constant current (and constant step, when given)."""
    if current.size == 0:
        return []
    tol = max(1e-9, STEP_TOL * float(np.max(np.abs(current))))
    change = np.abs(np.diff(current)) > tol
    if step is not None:
        change |= np.diff(step) != 0
    edges = np.concatenate([[0], np.flatnonzero(change) + 1, [current.size]])
    return list(zip(edges[:-1].tolist(), edges[1:].tolist()))


def _tau_start(t: np.ndarray, v: np.ndarray, t0: float, tau: float) -> tuple[float | None, str]:
    """Voltage at the pulse start after the IR drop, and how it was found."""
    if t.size >= 4:
        early = np.flatnonzero(t - t0 <= 0.25 * tau)
        use = early if early.size >= 3 else np.arange(3)
        x = np.sqrt(t[use] - t0)
        if np.ptp(x) > 0:
            slope, intercept = np.polyfit(x, v[use], 1)
            return float(intercept), "sqrt_t_extrapolation"
    if t.size >= 2:
        return float(v[0]), "first_sample"
    return None, "includes_ir_drop"


def pulses(table: pa.Table, particle_radius_m: float | None = None) -> pa.Table:
    """Every GITT pulse of one time series (BDF columns; current positive on charge) as gitt_pulses rows."""
    s, dropped = common.series(table)
    t, v, i = s["test_time_second"], s["voltage_volt"], s["current_ampere"]
    step = s["step_count"] if s["step_count"] is not None else s["step_index"]
    segs = runs(i, step)
    if not segs:
        raise InputError("no GITT pulses found: the time series has no rows with finite time, voltage and current.")
    i_max = float(np.max(np.abs(i)))
    mean_i = [float(np.mean(i[a:b])) for a, b in segs]
    rest = [abs(m) <= REST_FRAC * i_max for m in mean_i]
    candidates = [k for k in range(1, len(segs) - 1) if not rest[k] and rest[k - 1] and rest[k + 1]]
    trains, current = [], []
    for k in candidates:
        if current and (k == current[-1] + 2 and np.sign(mean_i[k]) == np.sign(mean_i[current[0]])
                        and abs(mean_i[k] - mean_i[current[0]]) <= TRAIN_TOL * abs(mean_i[current[0]])):
            current.append(k)
        else:
            trains.append(current)
            current = [k]
    trains.append(current)
    chosen = [k for train in trains if len(train) >= MIN_TRAIN for k in train]
    if not chosen:
        raise InputError(f"no GITT pulses found: {len(candidates)} pulse(s) between relaxations, none in a train of "
                         f">= {MIN_TRAIN} equal pulses (a GITT series alternates a constant-current pulse with a "
                         f"relaxation at zero or low current).")
    cycles = s["cycle_count"] if s["cycle_count"] is not None else np.ones(t.size, np.int64)
    rows, per_cycle = [], {}
    for k in chosen:
        (a, b), (_, c) = segs[k], segs[k + 1]
        e0, t0, e_end, e_after = float(v[a - 1]), float(t[a - 1]), float(v[b - 1]), float(v[c - 1])
        tau = float(t[b - 1]) - t0
        start, how = _tau_start(t[a:b], v[a:b], t0, tau)
        de_tau = e_end - (start if start is not None else e0)
        de_s = e_after - e0
        d1 = (de_s / de_tau) ** 2 if de_tau != 0 else None
        cycle = int(cycles[a])
        per_cycle[cycle] = per_cycle.get(cycle, 0) + 1
        diffusivity = None
        if particle_radius_m and d1 is not None and tau > 0:
            diffusivity = 4.0 / (math.pi * tau) * (particle_radius_m / 3.0) ** 2 * d1
        rows.append({"cycle_count": cycle, "pulse_index": per_cycle[cycle],
                     "direction": "charge" if mean_i[k] > 0 else "discharge", "start_time_s": t0,
                     "pulse_duration_s": tau, "current_a": mean_i[k], "voltage_before_v": e0, "voltage_v": e_after,
                     "delta_e_s_v": de_s, "delta_e_tau_v": de_tau,
                     "ir_drop_v": (start - e0) if start is not None else None, "delta_e_tau_method": how,
                     "d1": d1, "particle_radius_m": particle_radius_m, "diffusivity_m2_s": diffusivity})
    out = pa.Table.from_pylist(rows)
    return out.replace_schema_metadata({"note": f"{dropped} rows without finite time/voltage/current skipped"}
                                       if dropped else None)


def plan(read, options: dict) -> list[Unit]:
    radius = common.number(options.get("particle_radius_m"))
    cells = common.cells(read)
    units = []
    for f in common.timeseries_files(read):
        cell, sha = f["cell_id"], f["source_sha256"]
        r = radius or common.number(cells.get(cell, {}).get("extra", {}).get("particle_radius_m"))
        units.append(Unit(sha, common.fingerprint(f["rows"], r), _compute(read, cell, sha, r)))
    return units


def _compute(read, cell: str, sha: str, radius: float | None):
    def compute() -> dict[str, pa.Table]:
        try:
            rows = pulses(common.load_series(read, sha), radius)
        except InputError as exc:
            raise InputError(f"time series of cell {cell}: {exc}") from exc
        n = rows.num_rows
        rows = rows.append_column("cell_id", pa.array([cell] * n, pa.string()))
        rows = rows.append_column("source_sha256", pa.array([sha] * n, pa.string()))
        return {"gitt_pulses_history": rows}
    return compute
