"""Lab templates cells.csv / cycles.csv: every validation rule of lab-templates.md, on a real lake on disk."""
from __future__ import annotations

import re

import pytest

from ingest.pipeline import ingest
from ingest.readers.templates import CYCLES_TIME, template_header
from lake import store
from tests.conftest import (CELLS_HEADER, CYCLES_HEADER, DESIGN, GOOD_CELLS, good_cycles, lake_state,
                            write_csv)


@pytest.fixture
def good(tmp_path):
    return (write_csv(tmp_path / "cells.csv", CELLS_HEADER, GOOD_CELLS),
            write_csv(tmp_path / "cycles.csv", CYCLES_HEADER, good_cycles()))


def test_cells_and_cycles_land_in_one_transaction(lake, good):
    outcomes = ingest(lake, list(good), progress=False)
    assert [(o.status, o.format, o.rows) for o in outcomes] == [
        ("ingested", "cells_csv", 2), ("ingested", "cycles_csv", 17)]
    assert store.lake_version(lake) == 1
    versions = store.query(lake, "SELECT DISTINCT lake_version FROM cells UNION SELECT DISTINCT lake_version "
                                 "FROM cycles UNION SELECT lake_version FROM commits")
    assert versions["lake_version"].to_pylist() == [1]


def test_cycle_summary_retention_and_censoring(lake, good):
    ingest(lake, list(good), progress=False)
    life = {r["cell_id"]: r for r in store.query(lake, "SELECT * FROM cell_life").to_pylist()}
    # A1 ends at 170/179 = 95 %: both thresholds censored at the last cycle tested, never counted as failures.
    assert life["A1"]["cycles_to_80"] == 10 and life["A1"]["censored_80"] is True
    assert life["A1"]["censored_70"] is True
    assert life["A1"]["last_retention_frac"] == pytest.approx(170 / 179)
    # B1: reference is the best of cycles 1-3 (175); 135/175 = 0.77 at cycle 5, 120/175 = 0.69 at cycle 6.
    assert (life["B1"]["cycles_to_80"], life["B1"]["censored_80"]) == (5, False)
    assert (life["B1"]["cycles_to_70"], life["B1"]["censored_70"]) == (6, False)
    assert life["B1"]["initial_areal_capacity_mah_cm2"] == pytest.approx(175 * 12.7 / 1000)
    # mAh filled from mAh/g and the active mass; CE computed when both capacities exist.
    row = store.query(lake, "SELECT * FROM cycles WHERE cell_id = 'B1' AND cycle_index = 1").to_pylist()[0]
    assert row["discharge_capacity_mah"] == pytest.approx(170 * 12.7 / 1000)
    assert row["coulombic_efficiency_frac"] == pytest.approx(170 / 175)


def test_same_file_twice_is_a_duplicate_and_adds_nothing(lake, good):
    ingest(lake, list(good), progress=False)
    before = lake_state(lake)
    outcomes = ingest(lake, list(good), progress=False)
    assert [o.status for o in outcomes] == ["duplicate", "duplicate"]
    assert lake_state(lake) == before
    assert store.query(lake, "SELECT count(*) AS n FROM sources")["n"][0].as_py() == 2


def test_unknown_extra_columns_are_kept(lake, tmp_path):
    path = write_csv(tmp_path / "cells.csv", CELLS_HEADER + ["binder_batch"], [GOOD_CELLS[0] + ["B-17"]])
    ingest(lake, [path], progress=False)
    assert store.query(lake, "SELECT extra_json FROM cells")["extra_json"][0].as_py() == '{"binder_batch": "B-17"}'


def _cells_with(tmp_path, column: str, value) -> object:
    rows = [list(r) for r in GOOD_CELLS]
    rows[1][CELLS_HEADER.index(column)] = value
    return write_csv(tmp_path / "cells.csv", CELLS_HEADER, rows)


BAD_CELLS = [
    ("loading_mg_cm2", -3, r"row 3, column 'loading_mg_cm2'.*> 0.*-3"),
    ("process", "warm_pressed", r"row 3, column 'process'.*in_situ_polymerized.*warm_pressed"),
    ("loading_mg_cm2", "twelve", r"row 3, column 'loading_mg_cm2'.*a number.*twelve"),
    ("eca_wt_frac", 45, r"row 3, column 'eca_wt_frac'.*0-1.*45"),
    ("porosity_frac", 25, r"row 3, column 'porosity_frac'.*0-1.*25"),
    ("cell_id", "A1", r"row 3, column 'cell_id'.*duplicate.*A1"),
    ("temperature_c", "", r"row 3, column 'temperature_c'.*blank"),
    ("temperature_c", 333.15, r"row 3, column 'temperature_c'.*-60 and <= 200.*333.15"),   # kelvin, not degC
]


@pytest.mark.parametrize("column,value,message", BAD_CELLS, ids=[f"{c}={v}" for c, v, _ in BAD_CELLS])
def test_bad_cells_are_rejected_and_change_nothing(lake, good, tmp_path, column, value, message):
    ingest(lake, list(good), progress=False)
    before = lake_state(lake)
    bad = _cells_with(tmp_path / "bad" if (tmp_path / "bad").mkdir() is None else tmp_path, column, value)
    (outcome,) = ingest(lake, [bad], progress=False)
    assert outcome.status == "rejected"
    assert str(bad) in outcome.reason and re.search(message, outcome.reason), outcome.reason
    assert lake_state(lake) == before
    rejected = store.query(lake, "SELECT reason, lake_version FROM sources WHERE status = 'rejected'").to_pylist()
    assert rejected == [{"reason": outcome.reason, "lake_version": before["version"]}]


def test_lower_cut_off_must_lie_below_the_upper_one(lake, tmp_path):
    before = lake_state(lake)
    rows = [r + [2.8] for r in GOOD_CELLS]
    rows[1][-1] = 4.3
    (outcome,) = ingest(lake, [write_csv(tmp_path / "cells.csv", CELLS_HEADER + ["voltage_min_v"], rows)],
                        progress=False)
    assert outcome.status == "rejected"
    assert re.search(r"row 3, column 'voltage_min_v'.*below voltage_max_v.*4.3", outcome.reason), outcome.reason
    assert lake_state(lake) == before


def test_missing_required_column_is_named(lake, tmp_path):
    before = lake_state(lake)
    path = write_csv(tmp_path / "cells.csv", [h for h in CELLS_HEADER if h != "c_rate"],
                     [r[:6] + r[7:] for r in GOOD_CELLS])
    (outcome,) = ingest(lake, [path], progress=False)
    assert outcome.status == "rejected" and "column 'c_rate'" in outcome.reason and "missing" in outcome.reason
    assert lake_state(lake) == before


def test_cycles_naming_an_unknown_cell_are_rejected(lake, good, tmp_path):
    ingest(lake, [good[0]], progress=False)
    before = lake_state(lake)
    path = write_csv(tmp_path / "more_cycles.csv", CYCLES_HEADER, [["A1", 11, 169, 171], ["Z9", 1, 150, 160]])
    (outcome,) = ingest(lake, [path], progress=False)
    assert outcome.status == "rejected"
    assert re.search(r"row 3, column 'cell_id'.*unknown cell.*'Z9'", outcome.reason), outcome.reason
    assert lake_state(lake) == before


def test_cycles_of_a_cell_already_in_the_lake_are_accepted(lake, good, tmp_path):
    ingest(lake, list(good), progress=False)
    path = write_csv(tmp_path / "continued.csv", CYCLES_HEADER, [["A1", 11, 169, 171]])
    assert ingest(lake, [path], progress=False)[0].status == "ingested"
    again = write_csv(tmp_path / "again.csv", CYCLES_HEADER, [["A1", 11, 168, 171]])
    (outcome,) = ingest(lake, [again], progress=False)
    assert outcome.status == "rejected" and "cycle_index" in outcome.reason


def test_a_cell_already_in_the_lake_cannot_be_added_again(lake, good, tmp_path):
    ingest(lake, [good[0]], progress=False)
    before = lake_state(lake)
    path = write_csv(tmp_path / "cells_again.csv", CELLS_HEADER, GOOD_CELLS[:1] + [["C1"] + GOOD_CELLS[1][1:]])
    (outcome,) = ingest(lake, [path], progress=False)
    assert outcome.status == "rejected" and "already in the lake" in outcome.reason and "A1" in outcome.reason
    assert lake_state(lake) == before


def test_duplicate_cycle_rows_and_bad_cycle_index(lake, good, tmp_path):
    ingest(lake, [good[0]], progress=False)
    for rows, pattern in (([["A1", 1, 180, 182], ["A1", 1, 179, 181]], r"row 3.*duplicate"),
                          ([["A1", 1.5, 180, 182]], r"row 2, column 'cycle_index'.*integer"),
                          ([["A1", 1, "n/a", 182]], r"discharge_capacity_mah_g.*a number.*n/a")):
        (outcome,) = ingest(lake, [write_csv(tmp_path / "c.csv", CYCLES_HEADER, rows)], progress=False)
        assert outcome.status == "rejected" and re.search(pattern, outcome.reason), outcome.reason


def test_empty_and_binary_files_are_rejected(lake, tmp_path):
    before = lake_state(lake)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(256)) * 8)
    header_only = tmp_path / "header_only.csv"
    header_only.write_text(",".join(CELLS_HEADER) + "\n")
    outcomes = ingest(lake, [empty, binary, header_only], progress=False)
    assert [o.status for o in outcomes] == ["rejected"] * 3
    assert "empty" in outcomes[0].reason
    assert "no reader recognises" in outcomes[1].reason and "binary.csv" in outcomes[1].reason
    assert "no data rows" in outcomes[2].reason
    assert lake_state(lake) == before


def test_a_rejected_file_does_not_block_the_good_ones(lake, good, tmp_path):
    bad = tmp_path / "bad" / "cells_bad.csv"
    bad.parent.mkdir()
    write_csv(bad, CELLS_HEADER, [["X1", "cold_calendered", -1, 0, 60, 4.2, 0.1, 1, 0.2]])
    outcomes = ingest(lake, [*good, bad], progress=False)
    assert [o.status for o in outcomes] == ["ingested", "ingested", "rejected"]


def test_template_headers_match_the_lab_template_document():
    if not DESIGN.is_dir():
        pytest.skip("design documents not found beside the project")
    text = (DESIGN / "lab-templates.md").read_text()
    sections = text.split("## cycles.csv")
    for kind, section in (("cells", sections[0]), ("cycles", sections[1])):
        documented = re.findall(r"^\| ([a-z0-9_]+) \|", section, flags=re.M)
        # ended_at is in the template before the shared document lists it (proposed for lab-templates.md)
        proposed = [c for c in CYCLES_TIME if c not in documented] if kind == "cycles" else []
        assert template_header(kind).split(",") == [c for c in documented if c != "column"] + proposed, kind


def _cycles_with_end(path, ends: dict) -> object:
    """good_cycles() with an end_of_test column: ``ends`` maps (cell, cycle_index) to its value."""
    return write_csv(path, CYCLES_HEADER + ["end_of_test"],
                     [r + [ends.get((r[0], r[1]), "")] for r in good_cycles()])


def test_end_of_test_is_stored(lake, good, tmp_path):
    cycles = _cycles_with_end(tmp_path / "ended.csv", {("A1", 10): "scheduled", ("B1", 7): "short"})
    outcomes = ingest(lake, [good[0], cycles], progress=False)
    assert [o.status for o in outcomes] == ["ingested", "ingested"]
    rows = store.query(lake, "SELECT cell_id, cycle_index FROM cycles WHERE end_of_test IS NOT NULL "
                             "ORDER BY cell_id").to_pylist()
    assert [(r["cell_id"], r["cycle_index"]) for r in rows] == [("A1", 10), ("B1", 7)]


@pytest.mark.parametrize("ends,message", [
    ({("A1", 10): "shorted"}, r"row 11, column 'end_of_test'.*short, scheduled, aborted.*'?shorted"),
    ({("A1", 9): "short", ("A1", 10): "scheduled"}, r"row 11, column 'end_of_test'.*ends once.*scheduled"),
], ids=["unknown value", "two ends"])
def test_bad_end_of_test_is_rejected_and_changes_nothing(lake, good, tmp_path, ends, message):
    ingest(lake, [good[0]], progress=False)
    before = lake_state(lake)
    (outcome,) = ingest(lake, [_cycles_with_end(tmp_path / "bad.csv", ends)], progress=False)
    assert outcome.status == "rejected" and re.search(message, outcome.reason), outcome.reason
    assert lake_state(lake) == before


def _cycles_with_times(path, times: dict) -> object:
    """good_cycles() with an ended_at column: ``times`` maps (cell, cycle_index) to its text (others blank)."""
    return write_csv(path, CYCLES_HEADER + ["ended_at"], [r + [times.get((r[0], r[1]), "")] for r in good_cycles()])


def test_cycle_end_times_are_stored_in_utc(lake, good, tmp_path):
    """ended_at is optional: absent, every cycle's time is null; given, Z and offsets are converted to UTC and a
    time without an offset is taken as UTC; a blank cell stays null."""
    ingest(lake, list(good), progress=False)
    assert store.query(lake, "SELECT count(*) AS n FROM cycles WHERE ended_at IS NOT NULL")["n"][0].as_py() == 0
    assert store.query(lake, "SELECT count(*) AS n FROM cell_spans")["n"][0].as_py() == 0
    second = write_csv(tmp_path / "more_cells.csv", CELLS_HEADER, [["A2"] + GOOD_CELLS[0][1:]])
    rows = [["A2", n, 180 - n, 182 - n, t] for n, t in enumerate(
        ["2025-03-01T10:00:00Z", "2025-03-01 22:00:00+02:00", "2025-03-01T22:00:00", "", "2025-03-02"], start=1)]
    cycles = write_csv(tmp_path / "timed.csv", CYCLES_HEADER + ["ended_at"], rows)
    assert [o.status for o in ingest(lake, [second, cycles], progress=False)] == ["ingested", "ingested"]
    got = store.query(lake, "SELECT cycle_index, strftime(ended_at AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M') AS t "
                            "FROM cycles WHERE cell_id = 'A2' ORDER BY 1").to_pylist()
    assert [r["t"] for r in got] == ["2025-03-01 10:00", "2025-03-01 20:00", "2025-03-01 22:00", None,
                                     "2025-03-02 00:00"]


@pytest.mark.parametrize("text", ["2025-13-01T00:00:00Z", "yesterday", "01/03/2025 10:00", "2025-03-01T25:00"])
def test_a_bad_cycle_end_time_is_rejected_and_changes_nothing(lake, good, tmp_path, text):
    ingest(lake, [good[0]], progress=False)
    before = lake_state(lake)
    bad = _cycles_with_times(tmp_path / "bad.csv", {("A1", 1): "2025-03-01T10:00:00Z", ("A1", 4): text})
    (outcome,) = ingest(lake, [bad], progress=False)
    assert outcome.status == "rejected"
    assert re.search(r"bad\.csv, row 5, column 'ended_at': not an ISO 8601 date and time\. Expected e\.g\. "
                     r"2025-03-01T14:30:00Z .*without an offset: UTC.*found '" + re.escape(text), outcome.reason)
    assert len(outcome.reason.splitlines()) == 1
    assert lake_state(lake) == before


def test_coulombic_efficiency_above_one_by_a_read_error_is_data_a_percentage_is_not(lake, good, tmp_path):
    ingest(lake, [good[0]], progress=False)
    header = ["cell_id", "cycle_index", "discharge_capacity_mah_g", "coulombic_efficiency_frac"]
    read_error = write_csv(tmp_path / "ce.csv", header, [["A1", 1, 180, 0.9], ["A1", 2, 180, 1.0004]])
    assert ingest(lake, [read_error], progress=False)[0].status == "ingested"
    assert store.query(lake, "SELECT max(coulombic_efficiency_frac) AS m FROM cycles").to_pylist()[0]["m"] == 1.0004
    before = lake_state(lake)
    percent = write_csv(tmp_path / "ce_percent.csv", header, [["A1", 3, 180, 99.8]])
    (outcome,) = ingest(lake, [percent], progress=False)
    assert outcome.status == "rejected" and re.search(r"row 2, column 'coulombic_efficiency_frac'.*0-1.05.*99.8",
                                                      outcome.reason), outcome.reason
    assert lake_state(lake) == before
