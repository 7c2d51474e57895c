"""Early-life model inputs: the lake's cycles as the early-life features read them.

The features themselves (early_ce_loss, early_fade, early_slope over cycles 2..N) are defined once, in
analytics/early_life.py, which `cathode derive` also uses. The early-life model is a `Surrogate` on log10
cycles-to-80 % with these columns added to the recipe features, trained and used only on cells that reached cycle N
and were still above 80 % there.
"""
from __future__ import annotations

from pathlib import Path

import polars as pl

from analytics.early_life import EARLY_CYCLES as DEFAULT_N
from analytics.early_life import EARLY_FEATURES, early_features
from lake import store

__all__ = ["DEFAULT_N", "EARLY_FEATURES", "cycles_frame", "early_features", "eligible", "estimator"]


def cycles_frame(root: Path) -> pl.DataFrame:
    """(cell_id, cycle_number, retention_frac, coulombic_efficiency_frac) of every counted cycle in the lake."""
    return pl.from_arrow(store.query(root, """
        SELECT r.cell_id, r.cycle_number, r.retention_frac, y.coulombic_efficiency_frac
        FROM retention r JOIN cycles y USING (cell_id, cycle_index) WHERE r.cycle_number IS NOT NULL
        ORDER BY r.cell_id, r.cycle_number"""))


def eligible(frame: pl.DataFrame, n: int) -> pl.Series:
    """Cells the early-life model is for: tested to cycle n and still at or above 80 % there."""
    return (pl.col("cycles_tested") >= n) & ((pl.col("cycles_to_80") > n) | pl.col("censored_80"))


def estimator(random_state: int = 0):
    """The early-life model, unfitted: a GP on the recipe (no mechanism features: with the dozen-odd cells of a small
    lake they overfit here, and the early features already carry the decomposition rate) plus EARLY_FEATURES."""
    from models.surrogate import Surrogate
    return Surrogate(kind="gp", physics=False, extra_features=EARLY_FEATURES, random_state=random_state)
