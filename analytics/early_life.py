"""Early-life features, defined once: what the first N cycles say about cycle life (after Severson et al., Nature
Energy 2019). `cathode derive` stores them per cell (cycling_summary); the models' early-life model computes them
with the same function for any N it is trained on.

Cycles are counted as cycles run (lake/cycle_life.py). Cycle 1 carries the formation loss, so the window is cycles
2..N. The seed's mechanism makes the early signal physical: electrolyte oxidation consumes charge every cycle, so
the coulombic-efficiency deficit (1 - CE) measures the decomposition rate that later kills the cell, and the early
fade measures the damage already done.
- early_capacity_slope_mah_g_per_cycle: least-squares slope of discharge capacity over the window
- early_mean_coulombic_efficiency_frac: mean CE over the window (finite values)
- early_ce_loss:  log10 of the mean (1 - CE) over the window, floored at 1e-5
- early_fade:     log10 of the capacity lost by cycle N (1 - retention_N), floored at 2e-3
- early_slope:    log10 of the fade rate (minus the retention slope) over cycles N/2..N, floored at 1e-6
"""
from __future__ import annotations

import math

import numpy as np
import polars as pl

EARLY_CYCLES = 50
EARLY_FEATURES = ("early_ce_loss", "early_fade", "early_slope")        # the early-life model's inputs


def slope(x: np.ndarray, y: np.ndarray) -> float | None:
    """Least-squares slope of y against x over the finite points, None with fewer than two distinct x."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    return float(np.polyfit(x[ok], y[ok], 1)[0]) if ok.sum() >= 2 and np.ptp(x[ok]) > 0 else None


def features(cycle_number, retention, coulombic_efficiency, capacity=None, n: int = EARLY_CYCLES) -> dict:
    """The early-life features of one cell from its counted cycles (cycle_number 1, 2, …, in any order).

    ``complete`` is true when every cycle 1..n is present (the early-life model uses only such cells).
    """
    number = np.asarray(cycle_number, np.int64)
    retention, ce = np.asarray(retention, float), np.asarray(coulombic_efficiency, float)
    first = number <= n
    window = first & (number >= 2)
    finite_ce = window & np.isfinite(ce)
    mean_ce = float(np.mean(ce[finite_ce])) if finite_ce.any() else None
    at_n = retention[number == n]
    tail = first & (number >= max(2, n // 2))
    fade = slope(number[tail], retention[tail])
    cap_slope = slope(number[window], np.asarray(capacity, float)[window]) if capacity is not None else None
    return {
        "early_cycles": int(min(n, number.max())) if number.size else 0,
        "complete": int(np.unique(number[first]).size) == n,
        "early_capacity_slope_mah_g_per_cycle": cap_slope,
        "early_mean_coulombic_efficiency_frac": mean_ce,
        "early_ce_loss": math.log10(max(1.0 - mean_ce, 1e-5)) if mean_ce is not None else None,
        "early_fade": math.log10(max(1.0 - float(at_n[0]), 2e-3)) if at_n.size and np.isfinite(at_n[0]) else None,
        "early_slope": math.log10(max(-fade, 1e-6)) if fade is not None else None,
    }


def early_features(cycles: pl.DataFrame, n: int = EARLY_CYCLES) -> pl.DataFrame:
    """One row per cell that has every cycle 1..n: cell_id and the EARLY_FEATURES.

    ``cycles``: cell_id, cycle_number, retention_frac, coulombic_efficiency_frac (one row per counted cycle).
    """
    rows = []
    for (cell,), group in cycles.filter(pl.col("cycle_number") <= n).group_by("cell_id", maintain_order=True):
        got = features(group["cycle_number"].to_numpy(), group["retention_frac"].cast(pl.Float64).to_numpy(),
                       group["coulombic_efficiency_frac"].cast(pl.Float64).to_numpy(), n=n)
        if got["complete"]:
            rows.append({"cell_id": cell, **{k: got[k] for k in EARLY_FEATURES}})
    schema = {"cell_id": pl.String, **{k: pl.Float64 for k in EARLY_FEATURES}}
    return pl.DataFrame(rows, schema=schema).sort("cell_id") if rows else pl.DataFrame(schema=schema)
