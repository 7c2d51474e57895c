"""Early-life features: cycle life from the first N cycles (after Severson et al., Nature Energy 2019).

The seed's mechanism makes the early signal physical: electrolyte oxidation consumes charge every cycle, so the
coulombic-efficiency deficit (1 - CE) of the first cycles measures the decomposition rate that later kills the
cell, and the early fade measures the damage already done. Features (cycles 2..N, cycle 1 carries formation loss):
- early_ce_loss:   log10 of the mean (1 - CE) over cycles 2..N
- early_fade:      log10 of the capacity lost by cycle N (1 - retention_N)
- early_slope:     log10 of the fade rate over the second half of the window (retention per cycle)
The early-life model is a `Surrogate` on log10 cycles-to-80 % with these columns added to the recipe features,
trained and used only on cells that reached cycle N and were still above 80 % there.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from lake import store
from models.defaults import DEFAULT_N

EARLY_FEATURES = ("early_ce_loss", "early_fade", "early_slope")


def cycles_frame(root: Path) -> pl.DataFrame:
    """(cell_id, cycle_index, retention_frac, coulombic_efficiency_frac) of every cycle in the lake."""
    return pl.from_arrow(store.query(root, """
        SELECT r.cell_id, r.cycle_index, r.retention_frac, y.coulombic_efficiency_frac
        FROM retention r JOIN cycles y USING (cell_id, cycle_index) ORDER BY r.cell_id, r.cycle_index"""))


def early_features(cycles: pl.DataFrame, n: int) -> pl.DataFrame:
    """One row per cell that has every cycle 1..n: cell_id and the EARLY_FEATURES from its first n cycles."""
    first = cycles.filter(pl.col("cycle_index") <= n).sort("cell_id", "cycle_index")
    half = max(2, n // 2)
    out = (first.group_by("cell_id", maintain_order=True).agg(
        pl.len().alias("_n"),
        (1.0 - pl.col("coulombic_efficiency_frac").filter(pl.col("cycle_index") >= 2)).mean().alias("_ce"),
        pl.col("retention_frac").filter(pl.col("cycle_index") == n).first().alias("_rn"),
        pl.col("retention_frac").filter(pl.col("cycle_index") >= half).alias("_tail_r"),
        pl.col("cycle_index").filter(pl.col("cycle_index") >= half).alias("_tail_c"),
    ).filter(pl.col("_n") == n))
    slopes = [_slope(c.to_numpy() if hasattr(c, "to_numpy") else np.asarray(c),
                     r.to_numpy() if hasattr(r, "to_numpy") else np.asarray(r))
              for c, r in zip(out["_tail_c"], out["_tail_r"])]
    return out.select(
        "cell_id",
        pl.col("_ce").clip(1e-5, None).log10().alias("early_ce_loss"),
        (1.0 - pl.col("_rn")).clip(2e-3, None).log10().alias("early_fade"),
        pl.Series("early_slope", np.log10(np.clip(slopes, 1e-6, None))),
    )


def _slope(cycle: np.ndarray, retention: np.ndarray) -> float:
    """Fade per cycle (positive when retention falls) from a least-squares line."""
    cycle, retention = np.asarray(cycle, float), np.asarray(retention, float)
    ok = np.isfinite(retention)
    if ok.sum() < 2:
        return float("nan")
    return -float(np.polyfit(cycle[ok], retention[ok], 1)[0])


def eligible(frame: pl.DataFrame, n: int) -> pl.Series:
    """Cells the early-life model is for: tested to cycle n and still at or above 80 % there."""
    return (pl.col("cycles_tested") >= n) & ((pl.col("cycles_to_80") > n) | pl.col("censored_80"))
