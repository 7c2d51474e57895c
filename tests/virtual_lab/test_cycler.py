"""The virtual lab's campaign in lab time (virtual_lab/cycler.py): 8 channels, each cell on the first channel that
frees, 2 h / C-rate per cycle, backdated to a fixed end, the same times for the same seed."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

from lake import timeline
from virtual_lab import lab as vl
from virtual_lab.cycler import CYCLER_CHANNELS, TODAY


def _epoch(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp())


def test_the_campaign_runs_on_eight_channels_and_ends_on_a_fixed_date():
    cells, cycles = vl.campaign(40, 7)
    c_rate = {c["cell_id"]: c["c_rate"] for c in cells}
    ends = defaultdict(list)
    for row in cycles:
        assert row["ended_at"].endswith("Z")
        ends[row["cell_id"]].append(_epoch(row["ended_at"]))
    assert set(ends) == set(c_rate)
    for cell, times in ends.items():                      # every cycle lasts 2 h / C-rate
        assert {b - a for a, b in zip(times, times[1:])} <= {round(7200 / c_rate[cell])}
    starts = {cell: times[0] - round(7200 / c_rate[cell]) for cell, times in ends.items()}
    last = {cell: times[-1] for cell, times in ends.items()}
    assert max(last.values()) == int(TODAY.timestamp())
    first = min(starts.values())
    assert sum(s == first for s in starts.values()) == CYCLER_CHANNELS          # the first 8 start together
    assert all(s == first or s in last.values() for s in starts.values())      # the others when a channel frees
    ids = sorted(starts)
    assert max(timeline.lanes([starts[c] for c in ids], [last[c] for c in ids])) + 1 == CYCLER_CHANNELS
    assert [r["ended_at"] for r in vl.campaign(40, 7)[1]] == [r["ended_at"] for r in cycles]   # no wall clock


def test_the_demo_campaign_stops_today_with_its_last_cells_still_cycling():
    full, cut = vl.campaign(40, 7)[1], vl.campaign(40, 7, running_days=60)[1]
    today = int(TODAY.timestamp())
    assert max(_epoch(r["ended_at"]) for r in cut) <= today
    ran = defaultdict(int)
    for row in cut:
        ran[row["cell_id"]] += 1
    tested = defaultdict(int)
    for row in full:
        tested[row["cell_id"]] += 1
    still = {c for c in tested if ran[c] < tested[c]}
    assert still and all(0 < ran[c] for c in still)                # some cells run on, each has cycles
    ends = {r["cell_id"] for r in cut if r["end_of_test"]}
    assert ends == set(tested) - still                             # only ended tests say how they ended
    def done(rows):                                                # the ended tests' rows, times aside
        return [repr({k: v for k, v in r.items() if k != "ended_at"}) for r in rows if r["cell_id"] not in still]
    assert done(cut) == done(full)
