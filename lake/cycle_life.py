"""The cycle-life rule, defined once: which cycles count, retention, cycles to X % with censoring.

- A cycle counts when its discharge capacity (mAh/g when known, else mAh: a ratio, so the unit cancels) is finite
  and >= 0; other rows are ignored.
- cycle_number = cycles run: cycle_index - the cell's first counted cycle_index + 1, so EC-Lab's 0-based numbering
  and 1-based numbering give the same numbers (a gap in the numbering still counts as cycles run).
- Baseline = the best discharge capacity of the cell's first BASELINE_CYCLES cycles (cycle_number <= 3);
  retention = capacity / baseline.
- cycles_to_X = the cycle_number of the first cycle from the baseline cycle on with retention < X % (a low
  formation cycle before the best one is not a failure). When there is none the test ended above X: cycles_to_X =
  cycles_tested (the last cycle_number) and censored_X = true, a lower bound.
- How a test ended (`end_of_test`, optional, on the cycles row of the cycle in which it ended; END_OF_TEST): a
  lithium-metal short is a failure, not a test that stopped: short_cycle = that row's cycle number (counted from
  the first counted cycle, whether or not the row has a capacity), and when it comes before the first cycle below X,
  cycles_to_X = short_cycle, not censored. `scheduled` and `aborted` change nothing: a test ended by the plan or by
  the equipment is censored as before. A cell with an `end_of_test` row has ended its test (`test_ended`); one
  without is still running (or its lab does not report how tests end): its censored values may still grow.

Two renderings of this one rule live here side by side: SQL for the lake's `retention` and `cell_life` views, numpy
(`life`) for code holding one cell's cycles in memory (analytics, the virtual lab's adapter).
tests/lake/test_cycle_life.py runs both on the same cycles.
"""
from __future__ import annotations

import numpy as np

BASELINE_CYCLES = 3
THRESHOLDS = (80, 70, 50)          # percent: the cell_life columns cycles_to_X / censored_X
# How a test ended: the values the cycles.csv column `end_of_test` takes (on the row of the cycle in which it ended).
END_OF_TEST = {"short": "the cell short-circuited (lithium dendrite: sudden death); a failure at this cycle",
               "scheduled": "the test plan ended it (cycle count or retention limit reached); a lower bound",
               "aborted": "stopped for a reason that is not the cell's (cycler fault, power cut); a lower bound"}
SHORT, SCHEDULED = "short", "scheduled"

# Per cycles row: cycle_number, retention_frac (null for a row that does not count) and the cell's baseline cycle.
RETENTION_CTE = f"""
WITH c AS (SELECT cell_id, cycle_index, coalesce(discharge_capacity_mah_g, discharge_capacity_mah) AS cap,
                  end_of_test FROM cycles),
v AS (SELECT *, coalesce(isfinite(cap) AND cap >= 0, false) AS counted FROM c),
f AS (SELECT *, min(cycle_index) FILTER (WHERE counted) OVER (PARTITION BY cell_id) AS first_index,
             min(cycle_index) FILTER (WHERE end_of_test = '{SHORT}') OVER (PARTITION BY cell_id) AS short_index,
             bool_or(end_of_test IS NOT NULL) OVER (PARTITION BY cell_id) AS ended
      FROM v),
n AS (SELECT *, CASE WHEN counted THEN cycle_index - first_index + 1 END AS cycle_number,
             short_index - first_index + 1 AS short_cycle FROM f),
b AS (SELECT *, max(cap) FILTER (WHERE cycle_number <= {BASELINE_CYCLES}) OVER (PARTITION BY cell_id) AS base
      FROM n),
r AS (SELECT *, CASE WHEN counted THEN cap / nullif(base, 0) END AS retention_frac,
             min(cycle_number) FILTER (WHERE cycle_number <= {BASELINE_CYCLES} AND cap = base)
                 OVER (PARTITION BY cell_id) AS baseline_cycle FROM b)
"""

RETENTION_SQL = RETENTION_CTE + "SELECT cell_id, cycle_index, cycle_number, retention_frac FROM r"


def _cycles_to(pct: int) -> str:
    below = f"min(r.cycle_number) FILTER (WHERE r.cycle_number >= r.baseline_cycle AND r.retention_frac < {pct / 100})"
    short = "any_value(r.short_cycle)"
    return (f"CASE WHEN {short} <= coalesce({below}, {short}) THEN {short} "
            f"ELSE coalesce({below}, max(r.cycle_number)) END AS cycles_to_{pct},\n"
            f"       {below} IS NULL AND {short} IS NULL AS censored_{pct}")


LIFE_SQL = RETENTION_CTE + f"""
SELECT r.cell_id,
       max(r.cycle_number) AS cycles_tested,
       max(y.discharge_capacity_mah_g) FILTER (WHERE r.cycle_number <= {BASELINE_CYCLES}) AS initial_capacity_mah_g,
       max(y.discharge_capacity_mah_g) FILTER (WHERE r.cycle_number <= {BASELINE_CYCLES})
           * any_value(c.loading_mg_cm2) / 1000.0 AS initial_areal_capacity_mah_cm2,
       {', '.join(_cycles_to(p) for p in THRESHOLDS)},
       any_value(r.short_cycle) AS short_cycle,
       arg_max(r.retention_frac, r.cycle_number) AS last_retention_frac,
       bool_or(r.ended) AS test_ended
FROM r
JOIN cycles y USING (cell_id, cycle_index)
LEFT JOIN cells c USING (cell_id)
WHERE r.counted
GROUP BY r.cell_id
"""


def counted(capacity: np.ndarray) -> np.ndarray:
    """Which cycles count: a finite discharge capacity >= 0."""
    capacity = np.asarray(capacity, float)
    return np.isfinite(capacity) & (capacity >= 0)


def first_below(cycle_number: np.ndarray, retention: np.ndarray, pct: float, start: int = 1) -> tuple[int, bool]:
    """(cycles_to_X, censored_X): the first cycle_number >= start with retention below pct %, else the last
    cycle_number and True."""
    below = np.flatnonzero((np.asarray(retention) < pct / 100) & (np.asarray(cycle_number) >= start))
    return (int(cycle_number[below[0]]), False) if below.size else (int(cycle_number[-1]), True)


def life(cycle_index, capacity, thresholds=THRESHOLDS, short_index: int | None = None) -> dict:
    """The rule on one cell's cycles (any order; rows that do not count are dropped); ``short_index``: the
    cycle_index of the row whose end_of_test is a short, if any.

    Returns cycle_number, capacity and retention (arrays over the counted cycles in cycle order), baseline,
    cycles_tested, last_retention_frac, short_cycle, cycles_to_X / censored_X for each X in ``thresholds``, and
    n_skipped. With no counted cycle, cycles_tested is None and the arrays are empty.
    """
    idx, cap = np.asarray(cycle_index, np.int64), np.asarray(capacity, float)
    ok = counted(cap)
    order = np.argsort(idx[ok], kind="stable")
    idx, cap = idx[ok][order], cap[ok][order]
    out = {"n_skipped": int((~ok).sum()), "capacity": cap}
    if idx.size == 0:
        return {**out, "cycle_number": idx, "retention": cap, "baseline": None, "cycles_tested": None,
                "last_retention_frac": None}
    number = idx - idx[0] + 1
    first = number <= BASELINE_CYCLES
    baseline = float(cap[first].max())
    retention = cap / baseline if baseline > 0 else np.full(cap.size, np.nan)
    start = int(number[first][np.argmax(cap[first])])
    short = None if short_index is None else int(short_index) - int(idx[0]) + 1
    out.update(cycle_number=number, retention=retention, baseline=baseline, cycles_tested=int(number[-1]),
               last_retention_frac=float(retention[-1]) if np.isfinite(retention[-1]) else None, short_cycle=short)
    for pct in thresholds:
        to, cens = first_below(number, retention, pct, start)
        if short is not None and (cens or short <= to):
            to, cens = short, False
        out[f"cycles_to_{pct}"], out[f"censored_{pct}"] = to, cens
    return out
