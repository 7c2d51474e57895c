"""The lab templates `cells.csv` and `cycles.csv`, recognised by their header.

A cells.csv is checked by the recipe's one validator (lake.recipe.validate: required columns, numbers, loading > 0,
fractions within 0-1, a known process, physical ranges), then for duplicate cell ids; a cycles.csv column-wise
here (its optional ended_at: ISO 8601, read as UTC without an offset). Rows are numbered as a spreadsheet shows
them: the header is row 1, the first data row is row 2.
Cross-file rules (a cycles.csv cell known to the lake) are the pipeline's, which sees the lake.
"""
from __future__ import annotations

from pathlib import Path

import polars as pl

from ingest.readers import Reading, register
from ingest.readers.literature import LITERATURE_COLUMNS
from ingest.readers.tabular import (check, extra_json, header_names, load, numbers, required_values, unique,
                                    utc_times)
from lake import recipe
from lake.cycle_life import END_OF_TEST
from lake.errors import InputError

CYCLES_REQUIRED = ("cell_id", "cycle_index")
CYCLES_CAPACITY = ("discharge_capacity_mah_g", "discharge_capacity_mah")
CYCLES_OPTIONAL = ("charge_capacity_mah_g", "charge_capacity_mah", "coulombic_efficiency_frac")
# A cycler reads charge and discharge with separate errors (0.02-0.1 % of full scale): a cell that loses almost
# nothing reads a CE a little above 1, which is data, not a typo; well above 1 is a unit slip (a percentage).
CE_MAX = 1.05
CYCLES_TEXT = ("end_of_test",)            # on the row of the cycle in which the test ended (lake.cycle_life)
CYCLES_TIME = ("ended_at",)               # when the cycle ended, ISO 8601 (no offset = UTC); lab time for the app


def template_header(kind: str) -> str:
    """The CSV header a lab fills in: required columns first, then the optional ones."""
    columns = {"cells": recipe.NAMES,
               "cycles": CYCLES_REQUIRED + CYCLES_CAPACITY + CYCLES_OPTIONAL + CYCLES_TIME,   # as lab-templates.md
               # (not listing end_of_test, which a lab adds when a test ended by a short)
               "literature": LITERATURE_COLUMNS + recipe.REQUIRED[1:]}[kind]
    return ",".join(columns)


def _is_cells(head: bytes, path: Path) -> bool:
    names = set(header_names(head))
    return {"cell_id", "process"} <= names and not {"doi", "cycle_index"} & names


def _is_cycles(head: bytes, path: Path) -> bool:
    names = set(header_names(head))
    return {"cell_id", "cycle_index"} <= names and bool(set(CYCLES_CAPACITY) & names)


@register("cells_csv", suffixes=(".csv",), sniff=_is_cells, library="polars",
          description="lab template cells.csv: one row per cell (recipe, measured microstructure)")
def read_cells(path: Path, **options) -> Reading:
    frame = load(path, recipe.REQUIRED)
    frame = recipe.validate(frame, str(path), rows=frame["_row"])
    unique(frame, path, ["cell_id"])
    known = set(recipe.NAMES) | {"_row"}
    frame = frame.with_columns(extra_json=extra_json(frame, known),
                               source=pl.col("source").fill_null("lab") if "source" in frame.columns
                               else pl.lit("lab"))
    cells = frame.select([c for c in frame.columns if c in known and c != "_row"] + ["extra_json"])
    return Reading({"cells": cells.to_arrow()}, {"rows": frame.height})


@register("cycles_csv", suffixes=(".csv",), sniff=_is_cycles, library="polars",
          description="lab template cycles.csv: one row per cell and cycle (capacities)")
def read_cycles(path: Path, **options) -> Reading:
    frame = load(path, CYCLES_REQUIRED)
    if not set(CYCLES_CAPACITY) & set(frame.columns):
        raise InputError("missing capacity column.", file=str(path), expected=" or ".join(CYCLES_CAPACITY),
                         found=", ".join(c for c in frame.columns if c != "_row"))
    names = [c for c in CYCLES_CAPACITY + CYCLES_OPTIONAL if c in frame.columns]
    frame = utc_times(numbers(frame, path, ("cycle_index",) + tuple(names)), path, CYCLES_TIME)
    required_values(frame, path, CYCLES_REQUIRED)
    check(frame, path, "cycle_index", (pl.col("cycle_index") >= 1) & (pl.col("cycle_index").round() ==
                                                                     pl.col("cycle_index")), "an integer >= 1")
    for name in names:
        check(frame, path, name, pl.col(name) >= 0, "a number >= 0")
    if "coulombic_efficiency_frac" in frame.columns:
        check(frame, path, "coulombic_efficiency_frac", pl.col("coulombic_efficiency_frac") <= CE_MAX,
              f"a fraction within 0-{CE_MAX} (above 1 only by a cycler's read error)")
    unique(frame, path, ["cell_id", "cycle_index"])
    if "end_of_test" in frame.columns:
        check(frame, path, "end_of_test", pl.col("end_of_test").is_in(list(END_OF_TEST)),
              "blank or one of " + ", ".join(END_OF_TEST))
        ended = frame.filter(pl.col("end_of_test").is_not_null())
        again = ended.filter(pl.col("cell_id").is_duplicated())
        if again.height:
            raise InputError("a test ends once: second end_of_test for the cell.", file=str(path),
                             row=again["_row"][1], column="end_of_test",
                             expected="end_of_test on one row per cell", found=again["end_of_test"][1])
    known = set(CYCLES_REQUIRED + CYCLES_CAPACITY + CYCLES_OPTIONAL + CYCLES_TEXT + CYCLES_TIME) | {"_row"}
    frame = frame.with_columns(pl.col("cycle_index").cast(pl.Int64), extra_json=extra_json(frame, known))
    cycles = frame.select([c for c in frame.columns if c in known and c != "_row"] + ["extra_json"])
    return Reading({"cycles": cycles.to_arrow()}, {"rows": frame.height})
