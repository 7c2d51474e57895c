"""The campaign in lab time (lake/timeline.py): each cell's span from its cycle end times (the cell_spans view) and
the lanes a time line draws cells on, on a real lake built from lab templates."""
from __future__ import annotations

import datetime as dt

from ingest.pipeline import ingest
from lake import store, timeline
from tests.conftest import CELLS_HEADER, CYCLES_HEADER, GOOD_CELLS, write_csv

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)


def _at(hours: float) -> str:
    return (T0 + dt.timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_spans_and_lanes_on_a_lake(lake, tmp_path):
    """A1: 10 h cycles from hour 0 to 50; B1: 20 h cycles from hour 10 to 70, shorted in its last; C1 starts at
    hour 50 when A1's channel frees; D1 one cycle, no duration to estimate; E1 has no times at all."""
    cells = [[c] + GOOD_CELLS[0][1:] for c in ("A1", "B1", "C1", "D1", "E1")]
    rows = [["A1", n, 150, 160, _at(10 * n), ""] for n in range(1, 6)]
    rows += [["B1", n, 150, 160, _at(10 + 20 * n), "short" if n == 3 else ""] for n in range(1, 4)]
    rows += [["C1", n, 150, 160, _at(50 + 5 * n), ""] for n in range(1, 3)]
    rows += [["D1", 1, 150, 160, _at(100), ""], ["E1", 1, 150, 160, "", ""], ["E1", 2, 150, 160, "", ""]]
    files = (write_csv(tmp_path / "cells.csv", CELLS_HEADER, cells),
             write_csv(tmp_path / "cycles.csv", CYCLES_HEADER[:3] + ["discharge_capacity_mah", "ended_at",
                                                                     "end_of_test"], rows))
    assert [o.status for o in ingest(lake, list(files), progress=False)] == ["ingested", "ingested"]
    spans = {r["cell_id"]: r for r in store.query(lake, "SELECT * FROM cell_spans").to_pylist()}
    assert sorted(spans) == ["A1", "B1", "C1", "D1"]                      # E1 has no time: no span
    a, b, d = spans["A1"], spans["B1"], spans["D1"]
    assert (a["started_at"], a["last_cycle_ended_at"], a["cycle_hours"], a["cycles_run"]) == (
        T0, T0 + dt.timedelta(hours=50), 10.0, 5)
    assert b["started_at"] == T0 + dt.timedelta(hours=10) and (b["test_ended"], b["end_of_test"]) == (True, "short")
    assert a["test_ended"] is False and a["end_of_test"] is None
    assert d["started_at"] == d["first_cycle_ended_at"] == T0 + dt.timedelta(hours=100) and d["cycle_hours"] is None
    ids = sorted(spans)
    lanes = dict(zip(ids, timeline.lanes([spans[c]["started_at"] for c in ids],
                                         [spans[c]["last_cycle_ended_at"] for c in ids])))
    assert lanes == {"A1": 0, "B1": 1, "C1": 0, "D1": 0}               # C1 takes A1's lane once A1 ended


def test_lanes_take_the_lowest_free_lane():
    # four cells on two channels, given out of order; a cell starting exactly when another ends takes its lane
    starts, ends = [0, 0, 5, 3, 9], [5, 3, 9, 4, 12]
    assert timeline.lanes(starts, ends) == [0, 1, 0, 1, 0]
    assert timeline.lanes([0, 1, 2], [10, 10, 10]) == [0, 1, 2]           # all running at once: one lane each
    assert timeline.lanes([], []) == []
