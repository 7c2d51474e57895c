"""bench/lab_time.py: the lab's clock keeps to its channels and its rules, and the lake sees only the cycles each
cell has run by the day it is told (one tuning variant, short horizons)."""
from __future__ import annotations

import math

import pytest

from bench.lab_clock import Cell, Clock, may_start, parse_rule, stop
from bench.lab_time import peer_campaign, project_campaign
from lake import store

CHANNELS, BATCH = 8, 4


def test_rules_on_a_small_clock():
    clock = Clock(channels=3)
    clock.start([Cell("a", {}, 0.0, 300, 1.0), Cell("b", {}, 10.0, 20, 1.0)], day=10.0)
    assert clock.free(10.0) == 1 and not may_start("wait", clock, 10.0, 1)
    assert not may_start("after:25", clock, 20.0, 1)           # b has run 10 cycles
    assert may_start("after:25", clock, 30.0, 1)               # b ended at day 30, a has run 30
    assert not may_start("after:25", clock, 30.0, 3) and may_start("tpe", clock, 30.0, 2)
    assert clock.cells[0].run_by(12.5) == 12 and clock.cells[1].run_by(500.0) == 20
    with pytest.raises(RuntimeError):
        clock.start([Cell(x, {}, 12.0, 5, 1.0) for x in "cde"], day=12.0)
    assert clock.next_event(10.0, after_cycles=25) == 25.0 and clock.next_event(10.0) == 30.0
    # a test the lab ends: the cycle under way is its last, and only running cells can be ended
    assert parse_rule("after:50+stop") == 50
    assert stop(clock.cells, {"a", "b", "zz"}, 12.5) == 2 and [c.cycles for c in clock.cells] == [13, 3]
    assert clock.cells[0].end_day == 13.0 and stop(clock.cells, {"a"}, 13.0) == 0


def lake_cycles(root):
    with store.connect(root) as con:
        return con.sql("SELECT y.cell_id, y.cycle_index, y.end_of_test, s.original_name FROM cycles y "
                       "JOIN sources s ON s.sha256 = y.source_sha256").fetchall()


def started_cells(run):
    return {c["cell_id"]: c for b in run["batches"] for c in b["cells"]}


def check_lake(run, root, horizon):
    """Every cycle the lake holds was run by the day of the file that brought it; a test's end is marked once, on
    its last cycle, and only after it ended."""
    cells = started_cells(run)
    rows = lake_cycles(root)
    for cell_id, cycle, end, name in rows:
        if cell_id not in cells:                               # the seed's cells, finished before day 0
            continue
        c, day = cells[cell_id], float(name.removeprefix("cycles-day").removesuffix(".csv"))
        assert cycle <= math.floor((day - c["start_day"]) / c["days_per_cycle"] + 1e-5)   # the name rounds to 1e-6 d
        assert (end is not None) == (cycle == c["cycles"])
    most = {}
    for cell_id, cycle, _, _ in rows:
        most[cell_id] = max(most.get(cell_id, 0), cycle)
    for cell_id, c in cells.items():                          # and nothing run by the horizon is missing
        assert most.get(cell_id, 0) == min(c["cycles"], math.floor((horizon - c["start_day"]) / c["days_per_cycle"]
                                                                   + 1e-9))


@pytest.mark.slow
@pytest.mark.parametrize("rule", ["wait", "after:25"])
def test_lake_campaign_keeps_to_the_clock(tmp_path, rule):
    horizon = 320.0
    run = project_campaign(1, rule, 0, CHANNELS, BATCH, horizon, 16, keep=str(tmp_path))
    assert run["records"] and run["records"][-1]["day"] == horizon
    assert all(r["running"] <= CHANNELS for r in run["records"])
    assert all(b["running_before"] + len(b["cells"]) <= CHANNELS for b in run["batches"])
    if rule == "wait":
        assert [b["running_before"] for b in run["batches"]] == [0] * len(run["batches"]) and len(run["batches"]) >= 2
    else:
        assert len(run["batches"]) > 2                        # a batch started while others ran
    check_lake(run, tmp_path / "lake", horizon)


def test_peer_campaign_keeps_to_the_clock():
    run = peer_campaign(1, "tpe", 0, CHANNELS, BATCH, 400.0, 24)
    assert all(r["running"] <= CHANNELS for r in run["records"])
    assert all(b["running_before"] + len(b["cells"]) <= CHANNELS for b in run["batches"])
    assert run["records"][-1]["started"] == 24
