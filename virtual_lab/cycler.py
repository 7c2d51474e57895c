"""The virtual lab's cycler: when each cell of a campaign ran, as the lab's files record it (cycles.csv ended_at).

CYCLER_CHANNELS channels; cells go on in order, each on the channel that frees first; each cycle lasts
CYCLE_HOURS_AT_1C / c_rate (a charge and a discharge at C-rate c). The campaign is backdated to TODAY, a fixed date,
not the wall clock, so that the same seed writes byte-identical files: either every test has ended by then (its last
cycle ends at TODAY), or (``running_days``, the demo) the last cell went on test that many days before TODAY, so the
cells started last are still cycling: their files hold the cycles run by TODAY and no end_of_test.
Times are whole seconds, so a cell that follows another on a channel starts exactly when that one's last cycle ended.
"""
from __future__ import annotations

import datetime as dt

CYCLER_CHANNELS = 8
CYCLE_HOURS_AT_1C = 2.0             # one charge and one discharge, each an hour at 1 C
TODAY = dt.datetime(2025, 7, 1, tzinfo=dt.timezone.utc)
DEMO_RUNNING_DAYS = 60              # the demo's last cells went on test 60 days before TODAY


def cycle_hours(c_rate: float) -> float:
    """How long one cycle (a charge and a discharge) takes at ``c_rate``."""
    return CYCLE_HOURS_AT_1C / c_rate


def cycler_schedule(results, channels: int = CYCLER_CHANNELS, today: dt.datetime = TODAY,
                    running_days: float | None = None) -> dict[str, tuple[int, int, int]]:
    """Per cell of ``results`` ((cell_id, CellResult) pairs, in the order they went on test): its start (UTC epoch
    seconds), cycle duration (seconds) and the cycles it has run by ``today``."""
    free, plan = [0] * channels, {}
    for cell_id, result in results:
        channel = min(range(channels), key=lambda k: (free[k], k))
        cycle_s = round(cycle_hours(result.recipe.c_rate) * 3600)
        plan[cell_id] = (free[channel], cycle_s, result.tested_cycles)
        free[channel] += cycle_s * result.tested_cycles
    now = int(today.timestamp())
    if running_days is None:
        zero = now - max(free, default=0)
    else:
        zero = now - round(running_days * 86400) - max((start for start, _, _ in plan.values()), default=0)
    return {cell_id: (zero + start, cycle_s, min(tested, (now - zero - start) // cycle_s))
            for cell_id, (start, cycle_s, tested) in plan.items()}


def ended_at(start_s: int, cycle_s: int, cycle: int) -> str:
    """When cycle ``cycle`` (1-based) of a cell that started at ``start_s`` ended: ISO 8601, UTC."""
    return dt.datetime.fromtimestamp(start_s + cycle * cycle_s, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
