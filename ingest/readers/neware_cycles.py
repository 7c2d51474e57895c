"""Neware cycle numbering as BTSDA exports it (its Cycle Index), from the counter a .nda/.ndax stores.

BTSDA 8 shows the stored counter (fastnda ``cycle_mode="raw"``) for every sample of ../shared/samples that has a
BTSDA export, including M50T (7 cycles where counting charge→discharge gives 8), whose counter advances where its
program's Cycle steps jump: once at a step repeating itself (7→7), then at each 12→9. fastnda's docs and issue #3
describe other .ndax files (ndc 17) whose counter advances only where the step index jumps back; there BTSDA's
Cycle Index equals a count of charge/discharge alternations (fastnda ``"auto"``), which fastnda's own tests accept
where ``"raw"`` differs from the export. No sample here has such a counter, so the rule below follows fastnda's
description; both numberings are always kept. Per file:
1. the stored counter is used when it is a counter at all (from 1 or more, rises by 0 or 1, only at a new step) and
   is not of the loop-only kind (it advances, only at backward jumps, and counts fewer cycles than step 2); else
2. ``counted``: a new cycle starts where the first non-rest direction of the test (charge or discharge) follows the
   other one, as fastnda's ``auto`` does (from the stored first number, so a continued test keeps its numbering);
and whenever the two numberings differ the other one is kept as ``raw_cycle_count_*`` and the reading warns.
Option ``cycle_mode="raw"|"auto"`` forces one numbering.
"""
from __future__ import annotations

import polars as pl

STORED, COUNTED = "vendor cycle index (stored counter, BTSDA Cycle Index)", \
    "charge/discharge alternations (fastnda 'auto', as BTSDA counts loop-only counters)"


def counted_cycles(df: pl.DataFrame) -> pl.Series:
    """1-based cycle number: +1 where the test's first non-rest direction starts again after the other one."""
    kind = pl.col("step_type").cast(pl.String)
    direction = (pl.when(kind.str.contains("dchg")).then(-1).when(kind.str.contains("chg")).then(1)
                 .otherwise(None))
    signs = df.select(direction.alias("d"))["d"]
    first = signs.drop_nulls()
    target = 2 if first.is_empty() or first[0] == 1 else -2   # chg after dchg: +2; dchg after chg: -2
    step = signs.fill_null(strategy="forward").diff()
    return (step == target).fill_null(False).cum_sum().cast(pl.Int64).alias("cycle_count") + 1


def _plausible(df: pl.DataFrame) -> bool:
    c = df["cycle_count"]
    rise = c.diff().fill_null(0)
    new_step = df["step_count"].diff().fill_null(1) != 0 if "step_count" in df.columns else rise == rise
    return c.null_count() == 0 and c[0] >= 1 and bool(((rise == 0) | ((rise == 1) & new_step)).all())


def _loop_only(df: pl.DataFrame) -> bool:
    """The stored counter advances, and only where the step index jumps back (fastnda issue #3)."""
    rise = df["cycle_count"].diff().fill_null(0) > 0
    back = df["step_index"].diff().fill_null(0) < 0
    return bool(rise.any()) and bool((back.filter(rise)).all())


def vendor_cycles(df: pl.DataFrame, forced: str | None = None) -> tuple[pl.DataFrame, str, list[str]]:
    """(frame with cycle_count as BTSDA numbers it, the rule used, warnings); see the module doc."""
    stored = df["cycle_count"].cast(pl.Int64)
    counted = counted_cycles(df) + (max(int(stored[0]), 1) - 1)     # a continued test keeps its first number
    if forced in ("raw", "auto"):
        use_stored = forced == "raw"
    else:
        use_stored = _plausible(df) and not (_loop_only(df) and counted.n_unique() > stored.n_unique())
    if (counted == stored).all():
        return df, STORED, []
    kept, rule = (counted, STORED) if use_stored else (stored, COUNTED)
    other = "counted" if use_stored else "stored"
    df = df.with_columns(stored if use_stored else counted, kept.alias(f"raw_cycle_count_{other}"))
    note = (f"cycle_count: {rule} gives {df['cycle_count'].max()} cycles; the {other} numbering "
            f"({kept.max()} cycles) is kept as raw_cycle_count_{other}"
            f"{' (forced by option cycle_mode)' if forced in ('raw', 'auto') else ''}.")
    return df, rule, [note]
