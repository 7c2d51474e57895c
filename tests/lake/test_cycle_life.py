"""The one cycle-life rule (lake/cycle_life.py): its SQL (the lake views) and numpy renderings agree, and the view,
`cathode derive` and the models' cell frame give the same cycles_to_80 whatever the vendor's cycle numbering."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from analytics.runner import derive_all
from ingest.pipeline import ingest
from lake import cycle_life, store
from models.features import cell_frame
from tests.conftest import CELLS_HEADER, CYCLES_HEADER, GOOD_CELLS, write_csv

# capacity per cycle, in cycle order: formation cycle at 30 % of the best, then a fade crossing 80 % at the 7th cycle
LOW_FORMATION = [50, 170, 175, 160, 150, 145, 135, 120, 110]
STEADY = [180 - n for n in range(10)]              # never below 80 %: censored after 10 cycles


def _lake_with(tmp_path, cells: dict[str, tuple[int, list[float]]]):
    """A lake holding each cell's capacities numbered from its first index: 1-based through a cycles.csv, 0-based
    (EC-Lab's numbering, which a cycles.csv refuses) written as an instrument file's summary would be."""
    root = store.init(tmp_path / "lake")
    recipe = GOOD_CELLS[0][1:]
    cells_csv = write_csv(tmp_path / "cells.csv", CELLS_HEADER, [[cell, *recipe] for cell in cells])
    rows = [[cell, first + k, cap, cap + 2] for cell, (first, caps) in cells.items() for k, cap in enumerate(caps)]
    cycles_csv = write_csv(tmp_path / "cycles.csv", CYCLES_HEADER, [r for r in rows if r[1] >= 1 and
                                                                    cells[r[0]][0] == 1])
    assert all(o.status == "ingested" for o in ingest(root, [cells_csv, cycles_csv], progress=False))
    zero = [r for r in rows if cells[r[0]][0] == 0]
    if zero:
        with store.writer(root, "test") as w:
            w.insert("cycles", store.conform("cycles", pa.Table.from_pylist([
                {"cell_id": c, "cycle_index": i, "discharge_capacity_mah_g": d, "charge_capacity_mah_g": q,
                 "coulombic_efficiency_frac": d / q} for c, i, d, q in zero])))
    return root


def test_numbering_and_formation_give_one_answer_everywhere(tmp_path):
    cells = {"ZERO": (0, LOW_FORMATION), "ONE": (1, LOW_FORMATION), "ZERO_STEADY": (0, STEADY),
             "ONE_STEADY": (1, STEADY)}
    root = _lake_with(tmp_path, cells)
    derive_all(root, "cycling")
    view = {r["cell_id"]: r for r in store.query(root, "SELECT * FROM cell_life").to_pylist()}
    derived = {r["cell_id"]: r for r in store.query(root, "SELECT * FROM cycling_summary").to_pylist()}
    frame = {r["cell_id"]: r for r in cell_frame(root).to_dicts()}
    for cell, (_, caps) in cells.items():
        expected = (7, False) if caps is LOW_FORMATION else (10, True)
        for source in (view, derived, frame):
            assert (source[cell]["cycles_to_80"], source[cell]["censored_80"]) == expected, (cell, source is view)
            assert source[cell]["cycles_tested"] == len(caps)
        assert view[cell]["last_retention_frac"] == pytest.approx(caps[-1] / max(caps[:3]))
    assert view["ZERO"]["initial_capacity_mah_g"] == 175
    numbers = store.query(root, "SELECT cycle_number FROM retention WHERE cell_id = 'ZERO' ORDER BY cycle_index")
    assert numbers["cycle_number"].to_pylist() == list(range(1, len(LOW_FORMATION) + 1))


def test_sql_and_numpy_renderings_agree(tmp_path):
    rng = np.random.default_rng(3)
    cells = {}
    for k in range(12):
        n = int(rng.integers(1, 40))
        caps = 180 * np.cumprod(1 - rng.uniform(0, 0.04, n))
        caps[0] *= rng.choice([1.0, 0.3, 1.2])               # some low (or high) first cycles
        cells[f"C{k}"] = (int(rng.integers(0, 2)), [round(float(c), 3) for c in caps])
    root = _lake_with(tmp_path, cells)
    view = {r["cell_id"]: r for r in store.query(root, "SELECT * FROM cell_life").to_pylist()}
    for cell, (first, caps) in cells.items():
        rule = cycle_life.life(np.arange(first, first + len(caps)), caps)
        for key in ("cycles_tested", *(f"{k}_{p}" for p in cycle_life.THRESHOLDS for k in ("cycles_to", "censored"))):
            assert view[cell][key] == rule[key], (cell, key)
        assert view[cell]["last_retention_frac"] == pytest.approx(rule["last_retention_frac"])


def test_rows_without_a_capacity_do_not_count():
    rule = cycle_life.life([3, 1, 2, 4, 5], [100, 100, float("nan"), 70, -1])
    assert rule["n_skipped"] == 2 and list(rule["cycle_number"]) == [1, 3, 4]
    assert (rule["cycles_to_80"], rule["censored_80"], rule["cycles_tested"]) == (4, False, 4)
    assert cycle_life.life([], [])["cycles_tested"] is None


def test_ec_lab_file_gives_one_answer_everywhere(samples, tmp_path):
    """A real EC-Lab test (0-based, cycle 0 a short partial discharge): view, derive and models agree."""
    pytest.importorskip("galvani")
    root = store.init(tmp_path / "lake")
    name = "jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr"
    assert ingest(root, [samples / "biologic" / name], cell_id="EC", progress=False)[0].status == "ingested"
    derive_all(root, "cycling")
    view = store.query(root, "SELECT * FROM cell_life").to_pylist()[0]
    derived = store.query(root, "SELECT * FROM cycling_summary").to_pylist()[0]
    frame = cell_frame(root).to_dicts()[0]
    for source in (derived, frame):
        assert [source[k] for k in ("cycles_tested", "cycles_to_80", "censored_80")] == \
            [view[k] for k in ("cycles_tested", "cycles_to_80", "censored_80")]
    # cycles 0..6: the partial cycle 0 holds a quarter of the capacity, the rest never falls below 80 %
    assert (view["cycles_tested"], view["cycles_to_80"], view["censored_80"]) == (7, 7, True)


def test_a_short_is_a_failure_at_its_cycle_not_a_test_that_stopped(tmp_path):
    """A cell that shorted in cycle 5 (the lab marks the row end_of_test = short, nothing discharged) fails every
    threshold at cycle 5, also when the cycler wrote no capacity for that cycle; the same cycles with the test ended
    by the plan stay censored; a fade crossing before the short is still the fade's cycle. SQL (the view) and numpy
    agree."""
    root = store.init(tmp_path / "lake")
    recipe = GOOD_CELLS[0][1:]
    caps = {"SHORT": [180, 179, 178, 177, 0], "BLANK": [180, 179, 178, 177, None], "PLANNED": [180, 179, 178, 177],
            "FADE_FIRST": LOW_FORMATION + [0]}
    ends = {"SHORT": (5, "short"), "BLANK": (5, "short"), "PLANNED": (4, "scheduled"), "FADE_FIRST": (10, "short")}
    cells_csv = write_csv(tmp_path / "cells.csv", CELLS_HEADER, [[cell, *recipe] for cell in caps])
    rows = [[cell, n, "" if cap is None else cap, "" if cap is None else cap + 2,
             "" if ends[cell][0] != n else ends[cell][1]]
            for cell, cs in caps.items() for n, cap in enumerate(cs, start=1)]
    cycles_csv = write_csv(tmp_path / "cycles.csv", CYCLES_HEADER + ["end_of_test"], rows)
    assert all(o.status == "ingested" for o in ingest(root, [cells_csv, cycles_csv], progress=False))
    view = {r["cell_id"]: r for r in store.query(root, "SELECT * FROM cell_life").to_pylist()}
    derive_all(root, "cycling")
    derived = {r["cell_id"]: r for r in store.query(root, "SELECT * FROM cycling_summary").to_pylist()}
    expected = {"SHORT": ((5, False), (5, False), 5), "BLANK": ((5, False), (5, False), 5),
                "PLANNED": ((4, True), (4, True), None),
                "FADE_FIRST": ((7, False), (10, False), 10)}     # 80 % crossed at 7 by fade; 50 % never: short
    for cell, (at80, at50, short) in expected.items():
        rule = cycle_life.life(np.arange(1, len(caps[cell]) + 1), [np.nan if c is None else c for c in caps[cell]],
                               short_index=ends[cell][0] if ends[cell][1] == "short" else None)
        for got in (view[cell], rule):
            assert (got["cycles_to_80"], got["censored_80"]) == at80, (cell, got is rule)
            assert (got["cycles_to_50"], got["censored_50"]) == at50, (cell, got is rule)
            assert got["short_cycle"] == short
        assert (derived[cell]["cycles_to_80"], derived[cell]["censored_80"]) == at80, cell   # `cathode derive`
