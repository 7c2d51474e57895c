"""Literature tables: DOI and figure on every row, units normalised, unknown columns kept, CSV and XLSX alike."""
from __future__ import annotations

import json
import re

import polars as pl
import pytest

from ingest.pipeline import ingest
from lake import store
from tests.conftest import lake_state, write_csv

HEADER = ["cell_id", "doi", "figure", "quantity", "value", "unit", "at_cycle", "process", "loading_mg_cm2",
          "eca_wt_frac", "temperature_c", "voltage_max_v", "c_rate", "binder"]
ROWS = [["Li2024-A", "10.1000/xyz", "Fig. 2b", "retention", 81.5, "%", 300, "in_situ_polymerized", 20.0, 0.05, 60,
         4.2, 0.1, "PEGDA"],
        ["Li2024-A", "10.1000/xyz", "Fig. 2a", "discharge_capacity", 175.0, "mAh/g", 1, "in_situ_polymerized", 20.0,
         0.05, 60, 4.2, 0.1, "PEGDA"]]


def _rows(root):
    return store.query(root, "SELECT quantity, value, unit, note, figure, extra_json FROM literature "
                             "ORDER BY quantity, unit").to_pylist()


def test_percent_becomes_a_fraction_and_capacities_get_their_twin(lake, tmp_path):
    (outcome,) = ingest(lake, [write_csv(tmp_path / "lit.csv", HEADER, ROWS)], progress=False)
    assert outcome.status == "ingested" and outcome.format == "literature_csv"
    rows = _rows(lake)
    assert [(r["quantity"], r["unit"]) for r in rows] == [
        ("discharge_capacity", "mAh/cm2"), ("discharge_capacity", "mAh/g"), ("retention", "fraction")]
    assert rows[0]["value"] == pytest.approx(175.0 * 20.0 / 1000) and "derived" in rows[0]["note"]
    assert rows[2]["value"] == pytest.approx(0.815)
    assert json.loads(rows[2]["extra_json"]) == {"binder": "PEGDA"}
    cell = store.query(lake, "SELECT source, reference, process FROM cells").to_pylist()
    assert cell == [{"source": "10.1000/xyz", "reference": "Fig. 2b; Fig. 2a", "process": "in_situ_polymerized"}]


def test_an_excel_workbook_reads_like_the_csv(tmp_path):
    lakes = [store.init(tmp_path / name) for name in ("csv", "xlsx")]
    ingest(lakes[0], [write_csv(tmp_path / "lit.csv", HEADER, ROWS)], progress=False)
    book = tmp_path / "lit.xlsx"
    pl.DataFrame(ROWS, schema=HEADER, orient="row").write_excel(book)
    (outcome,) = ingest(lakes[1], [book], progress=False)
    assert outcome.status == "ingested" and outcome.format == "literature_xlsx"
    assert _rows(lakes[0]) == _rows(lakes[1])


@pytest.mark.parametrize("column,value,expected", [
    ("value", 150, "row 2, column 'value'.*fraction within 0-1.*1.5"),
    ("process", "sintered", "row 2, column 'process'.*sintered"),
    ("doi", "", "row 2, column 'doi'.*blank"),
    # the recipe columns obey the cells.csv rules: no cell a cells.csv would reject comes in through a paper
    ("loading_mg_cm2", -3, r"row 2, column 'loading_mg_cm2'.*> 0.*-3"),
    ("eca_wt_frac", 5, r"row 2, column 'eca_wt_frac'.*0-1.*5"),
    ("temperature_c", 333.15, r"row 2, column 'temperature_c'.*<= 200.*333.15"),
    ("c_rate", "fast", r"row 2, column 'c_rate'.*a number.*fast"),
])
def test_bad_literature_rows_are_rejected(lake, tmp_path, column, value, expected):
    rows = [list(r) for r in ROWS]
    rows[0][HEADER.index(column)] = value
    before = lake_state(lake)
    (outcome,) = ingest(lake, [write_csv(tmp_path / "lit.csv", HEADER, rows)], progress=False)
    assert outcome.status == "rejected"
    assert re.search(expected, outcome.reason), outcome.reason
    assert lake_state(lake) == before


def test_a_cell_must_have_one_recipe_and_every_required_value(lake, tmp_path):
    before = lake_state(lake)
    rows = [list(r) for r in ROWS]
    rows[1][HEADER.index("loading_mg_cm2")] = 25.0                    # row 3 says otherwise than row 2
    (outcome,) = ingest(lake, [write_csv(tmp_path / "lit.csv", HEADER, rows)], progress=False)
    assert outcome.status == "rejected"
    assert re.search(r"row 2, column 'loading_mg_cm2'.*differently.*20.0.*25.0", outcome.reason), outcome.reason
    rows = [[v for h, v in zip(HEADER, r) if h != "c_rate"] for r in ROWS]  # a recipe without its C-rate
    header = [h for h in HEADER if h != "c_rate"]
    (outcome,) = ingest(lake, [write_csv(tmp_path / "lit2.csv", header, rows)], progress=False)
    assert outcome.status == "rejected" and "column 'c_rate'" in outcome.reason and "missing" in outcome.reason
    assert lake_state(lake) == before


def test_a_cell_without_densification_is_still_a_cell(lake, tmp_path):
    """densification_frac is optional (the seed paper does not report it): the cell comes in with it blank."""
    ingest(lake, [write_csv(tmp_path / "lit.csv", HEADER, ROWS)], progress=False)
    cell = store.query(lake, "SELECT loading_mg_cm2, densification_frac, c_rate FROM cells").to_pylist()
    assert cell == [{"loading_mg_cm2": 20.0, "densification_frac": None, "c_rate": 0.1}]


def test_a_broken_workbook_is_rejected(lake, tmp_path):
    book = tmp_path / "lit.xlsx"
    pl.DataFrame(ROWS, schema=HEADER, orient="row").write_excel(book)
    book.write_bytes(book.read_bytes()[:3000])
    (outcome,) = ingest(lake, [book], progress=False)
    assert outcome.status == "rejected" and "lit.xlsx" in outcome.reason
