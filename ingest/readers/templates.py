"""The lab templates `cells.csv` and `cycles.csv`, recognised by their header.

Every rule of `lab-templates.md` is checked column-wise (polars casts, then the first offending row is named):
required columns present, numbers parse, loading > 0, fractions within 0-1, process one of three names, no duplicate
keys. Rows are numbered as a spreadsheet shows them: the header is row 1, the first data row is row 2.
Cross-file rules (a cycles.csv cell known to the lake) are the pipeline's, which sees the lake.
"""
from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from ingest.readers import Reading, register
from lake.errors import InputError
from lake.recipe import PROCESSES

CELLS_REQUIRED = ("cell_id", "process", "loading_mg_cm2", "eca_wt_frac", "temperature_c", "voltage_max_v", "c_rate")
CELLS_OPTIONAL = ("voltage_min_v", "densification_frac", "porosity_frac", "active_area_frac", "active_mass_mg",
                  "electrode_area_cm2", "electrolyte", "proposal_id", "source", "reference")
CELLS_TEMPLATE = CELLS_REQUIRED[:6] + ("voltage_min_v", "c_rate") + CELLS_OPTIONAL[1:]   # the document's order
CELLS_NUMBERS = ("loading_mg_cm2", "eca_wt_frac", "temperature_c", "voltage_max_v", "voltage_min_v", "c_rate",
                 "densification_frac", "porosity_frac", "active_area_frac", "active_mass_mg", "electrode_area_cm2")
CYCLES_REQUIRED = ("cell_id", "cycle_index")
CYCLES_CAPACITY = ("discharge_capacity_mah_g", "discharge_capacity_mah")
CYCLES_OPTIONAL = ("charge_capacity_mah_g", "charge_capacity_mah", "coulombic_efficiency_frac")
POSITIVE = ("loading_mg_cm2", "voltage_max_v", "voltage_min_v", "c_rate", "active_mass_mg", "electrode_area_cm2")


def template_header(kind: str) -> str:
    """The CSV header a lab fills in: required columns first, then the optional ones."""
    from ingest.readers.literature import LITERATURE_COLUMNS
    columns = {"cells": CELLS_TEMPLATE,
               "cycles": CYCLES_REQUIRED + CYCLES_CAPACITY + CYCLES_OPTIONAL,
               "literature": LITERATURE_COLUMNS + CELLS_REQUIRED[1:]}[kind]
    return ",".join(columns)


def header_names(head: bytes) -> list[str]:
    """The comma-separated names on a text file's first line; [] for binary or empty content."""
    if b"\x00" in head:
        return []
    try:
        lines = head.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError:
        return []
    return [name.strip() for name in lines[0].split(",")] if lines else []


def _header(head: bytes) -> set[str]:
    return set(header_names(head))


def _is_cells(head: bytes, path: Path) -> bool:
    names = _header(head)
    return {"cell_id", "process"} <= names and not {"doi", "cycle_index"} & names


def _is_cycles(head: bytes, path: Path) -> bool:
    names = _header(head)
    return {"cell_id", "cycle_index"} <= names and bool(set(CYCLES_CAPACITY) & names)


@register("cells_csv", suffixes=(".csv",), sniff=_is_cells, library="polars",
          description="lab template cells.csv: one row per cell (recipe, measured microstructure)")
def read_cells(path: Path, **options) -> Reading:
    frame = _load(path, CELLS_REQUIRED)
    frame = _numbers(frame, path, CELLS_NUMBERS)
    _required_values(frame, path, CELLS_REQUIRED)
    _check_choice(frame, path, "process", PROCESSES)
    for name in POSITIVE:
        _check(frame, path, name, pl.col(name) > 0, "a number > 0")
    for name in ("eca_wt_frac", "densification_frac", "porosity_frac", "active_area_frac"):
        _check(frame, path, name, pl.col(name).is_between(0, 1), "a fraction within 0-1 (write 0.45 for 45 %)")
    _unique(frame, path, ["cell_id"])
    known = set(CELLS_REQUIRED + CELLS_OPTIONAL) | {"_row"}
    frame = frame.with_columns(extra_json=_extra_json(frame, known),
                               source=pl.col("source").fill_null("lab") if "source" in frame.columns
                               else pl.lit("lab"))
    cells = frame.select([c for c in frame.columns if c in known and c != "_row"] + ["extra_json"])
    return Reading({"cells": cells.to_arrow()}, {"rows": frame.height})


@register("cycles_csv", suffixes=(".csv",), sniff=_is_cycles, library="polars",
          description="lab template cycles.csv: one row per cell and cycle (capacities)")
def read_cycles(path: Path, **options) -> Reading:
    frame = _load(path, CYCLES_REQUIRED)
    if not set(CYCLES_CAPACITY) & set(frame.columns):
        raise InputError("missing capacity column.", file=str(path), expected=" or ".join(CYCLES_CAPACITY),
                         found=", ".join(c for c in frame.columns if c != "_row"))
    numbers = [c for c in CYCLES_CAPACITY + CYCLES_OPTIONAL if c in frame.columns]
    frame = _numbers(frame, path, ("cycle_index",) + tuple(numbers))
    _required_values(frame, path, CYCLES_REQUIRED)
    _check(frame, path, "cycle_index", (pl.col("cycle_index") >= 1) & (pl.col("cycle_index").round() ==
                                                                      pl.col("cycle_index")), "an integer >= 1")
    for name in numbers:
        _check(frame, path, name, pl.col(name) >= 0, "a number >= 0")
    if "coulombic_efficiency_frac" in frame.columns:
        _check(frame, path, "coulombic_efficiency_frac", pl.col("coulombic_efficiency_frac") <= 1,
               "a fraction within 0-1")
    _unique(frame, path, ["cell_id", "cycle_index"])
    known = set(CYCLES_REQUIRED + CYCLES_CAPACITY + CYCLES_OPTIONAL) | {"_row"}
    frame = frame.with_columns(pl.col("cycle_index").cast(pl.Int64), extra_json=_extra_json(frame, known))
    cycles = frame.select([c for c in frame.columns if c in known and c != "_row"] + ["extra_json"])
    return Reading({"cycles": cycles.to_arrow()}, {"rows": frame.height})


# ---------------------------------------------------------------- column-wise checks

def _load(path: Path, required: tuple[str, ...], frame: pl.DataFrame | None = None) -> pl.DataFrame:
    """The file as text columns (blank = null), with a spreadsheet row number `_row`, or a clear error."""
    if frame is None:
        try:
            frame = pl.read_csv(path, infer_schema=False, encoding="utf8")
        except (pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
            raise InputError(f"not a readable CSV file ({str(exc).splitlines()[0]}).", file=str(path)) from None
    frame = frame.rename({c: c.strip() for c in frame.columns})
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputError("missing required column.", file=str(path), column=missing[0],
                         expected=", ".join(required), found=", ".join(frame.columns))
    if frame.height == 0:
        raise InputError("no data rows under the header.", file=str(path))
    blank = pl.col(pl.String).str.strip_chars().replace("", None)
    return frame.with_columns(blank).with_row_index("_row", offset=2)


def _numbers(frame: pl.DataFrame, path: Path, names) -> pl.DataFrame:
    for name in names:
        if name not in frame.columns:
            continue
        parsed = frame[name].cast(pl.Float64, strict=False)
        bad = frame.filter(parsed.is_null() & frame[name].is_not_null())
        if bad.height:
            raise InputError("not a number.", file=str(path), row=bad["_row"][0], column=name,
                             expected="a number", found=bad[name][0])
        frame = frame.with_columns(parsed.alias(name))
    return frame


def _required_values(frame: pl.DataFrame, path: Path, names) -> None:
    for name in names:
        bad = frame.filter(pl.col(name).is_null())
        if bad.height:
            raise InputError("required value is blank.", file=str(path), row=bad["_row"][0], column=name,
                             expected="a value", found="")


def _check(frame: pl.DataFrame, path: Path, name: str, rule: pl.Expr, expected: str) -> None:
    if name not in frame.columns:
        return
    bad = frame.filter(pl.col(name).is_not_null() & ~rule)
    if bad.height:
        raise InputError("value out of range.", file=str(path), row=bad["_row"][0], column=name,
                         expected=expected, found=bad[name][0])


def _check_choice(frame: pl.DataFrame, path: Path, name: str, choices) -> None:
    bad = frame.filter(~pl.col(name).is_in(list(choices)))
    if bad.height:
        raise InputError(f"unknown {name}.", file=str(path), row=bad["_row"][0], column=name,
                         expected="one of " + ", ".join(choices), found=bad[name][0])


def _unique(frame: pl.DataFrame, path: Path, keys: list[str]) -> None:
    dup = frame.filter(pl.struct(keys).is_duplicated())
    if dup.height:
        first = dup.row(1 if dup.height > 1 else 0, named=True)
        raise InputError(f"duplicate {' and '.join(keys)}.", file=str(path), row=first["_row"], column=keys[-1],
                         expected="each value once", found=first[keys[-1]])


def _extra_json(frame: pl.DataFrame, known: set[str]) -> pl.Expr:
    extra = [c for c in frame.columns if c not in known]
    if not extra:
        return pl.lit(None, pl.String)
    return pl.struct(extra).map_elements(lambda row: json.dumps(row, sort_keys=True), return_dtype=pl.String)
