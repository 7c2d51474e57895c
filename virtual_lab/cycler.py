"""The virtual lab's cycler: when each cell of a campaign ran, as the lab's files record it (cycles.csv ended_at).

CYCLER_CHANNELS channels; cells go on in order, each on the channel that frees first; each cycle lasts
CYCLE_HOURS_AT_1C / c_rate (a charge and a discharge at C-rate c). The campaign is backdated so that its last cycle
ends at CAMPAIGN_ENDS_AT: a fixed date, not the wall clock, so that the same seed writes byte-identical files.
Times are whole seconds, so a cell that follows another on a channel starts exactly when that one's last cycle ended.
"""
from __future__ import annotations

import datetime as dt

CYCLER_CHANNELS = 8
CYCLE_HOURS_AT_1C = 2.0
CAMPAIGN_ENDS_AT = dt.datetime(2025, 7, 1, tzinfo=dt.timezone.utc)


def cycler_schedule(results, channels: int = CYCLER_CHANNELS,
                    ends_at: dt.datetime = CAMPAIGN_ENDS_AT) -> dict[str, tuple[int, int]]:
    """Per cell of ``results`` ((cell_id, CellResult) pairs, in the order they went on test): its start (UTC epoch
    seconds) and cycle duration (seconds)."""
    free, plan = [0] * channels, {}
    for cell_id, result in results:
        channel = min(range(channels), key=lambda k: (free[k], k))
        cycle_s = round(CYCLE_HOURS_AT_1C * 3600 / result.recipe.c_rate)
        plan[cell_id] = (free[channel], cycle_s)
        free[channel] += cycle_s * result.tested_cycles
    zero = int(ends_at.timestamp()) - max(free, default=0)
    return {cell_id: (zero + start, cycle_s) for cell_id, (start, cycle_s) in plan.items()}


def ended_at(start_s: int, cycle_s: int, cycle: int) -> str:
    """When cycle ``cycle`` (1-based) of a cell that started at ``start_s`` ended: ISO 8601, UTC."""
    return dt.datetime.fromtimestamp(start_s + cycle * cycle_s, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
