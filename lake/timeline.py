"""A campaign in lab time, defined once: each cell's test span from its cycles' end times, and cycler lanes.

- A cell's span runs from its estimated start to its last cycle's end. The start is the first cycle's end minus the
  cell's cycle duration, estimated as the median time between consecutive cycle ends (a cell with one timed cycle
  starts at that cycle's end). Only cycles with `ended_at` count; a cell without any has no span.
- Whether the test has ended is `cell_life.test_ended` (the rule: lake/cycle_life.py).
- Lanes (for display; the lake does not record cycler channels): in order of start, each cell takes the lowest lane
  free at its start, a lane freeing when its cell's last cycle ended. Cells that shared a channel back to back share
  a lane; the number of lanes is the most cells running at once.

The SQL is the lake's `cell_spans` view (lake/schema.py); `lanes` packs its rows.
"""
from __future__ import annotations

from collections.abc import Sequence

SPANS_SQL = """
WITH timed AS (SELECT cell_id, ended_at, epoch(ended_at) - epoch(lag(ended_at) OVER (PARTITION BY cell_id
                      ORDER BY cycle_index)) AS gap_s FROM cycles WHERE ended_at IS NOT NULL),
spans AS (SELECT cell_id, min(ended_at) AS first_cycle_ended_at, max(ended_at) AS last_cycle_ended_at,
                 median(gap_s) AS cycle_s FROM timed GROUP BY cell_id),
runs AS (SELECT cell_id, count(*) AS cycles_run,
                any_value(end_of_test) FILTER (WHERE end_of_test IS NOT NULL) AS end_of_test
         FROM cycles GROUP BY cell_id)
SELECT s.cell_id, s.first_cycle_ended_at - to_seconds(coalesce(s.cycle_s, 0)) AS started_at, s.first_cycle_ended_at,
       s.last_cycle_ended_at, s.cycle_s / 3600 AS cycle_hours, r.cycles_run,
       coalesce(l.test_ended, false) AS test_ended, r.end_of_test
FROM spans s JOIN runs r USING (cell_id) LEFT JOIN cell_life l USING (cell_id)
"""


def lanes(starts: Sequence, ends: Sequence) -> list[int]:
    """The display lane (0, 1, …) of each span [start, end]: in order of start, the lowest lane free at its start.
    Works on anything ordered (datetimes, pandas Timestamps, seconds); ties keep the given order."""
    order = sorted(range(len(starts)), key=lambda i: (starts[i], i))
    free_at: list = []                 # per lane: when its last cell's test ended
    out = [0] * len(starts)
    for i in order:
        lane = next((k for k, t in enumerate(free_at) if t <= starts[i]), len(free_at))
        if lane == len(free_at):
            free_at.append(ends[i])
        else:
            free_at[lane] = ends[i]
        out[i] = lane
    return out
