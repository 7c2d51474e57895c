"""Literature tables (CSV or XLSX): one reported value per row, each with its DOI and figure.

Columns: cell_id, doi, figure, quantity, value, unit (required); at_cycle, note (optional); and the cell's recipe
in the cells.csv names (process, loading_mg_cm2 …), which become a `cells` row per cell with the DOI as source.
Units are normalised: percent -> fraction; capacities are spelled mAh/g and mAh/cm2, and when the cell's loading
is known a capacity given per gram also gets its areal twin (and the reverse), marked in `note`. Unknown columns
are kept in extra_json. The recipe columns obey the cells.csv rules (lake.recipe.validate) row by row, and each
cell they make is one a cells.csv would accept: a literature table cannot bring in what a lab template cannot.
"""
from __future__ import annotations

from pathlib import Path

import polars as pl

from ingest.readers import Reading, register
from ingest.readers.tabular import extra_json, header_names, load, numbers, required_values
from lake import recipe
from lake.errors import InputError

LITERATURE_REQUIRED = ("cell_id", "doi", "figure", "quantity", "value", "unit")
LITERATURE_COLUMNS = LITERATURE_REQUIRED + ("at_cycle", "note")
# spelling as written (lower case) -> (canonical unit, divisor to reach it)
UNIT_SPELLINGS = {"%": ("fraction", 100.0), "percent": ("fraction", 100.0), "fraction": ("fraction", 1.0),
                  "mah/g": ("mAh/g", 1.0), "mah g-1": ("mAh/g", 1.0), "mah/cm2": ("mAh/cm2", 1.0),
                  "mah/cm²": ("mAh/cm2", 1.0), "mah cm-2": ("mAh/cm2", 1.0), "ms/cm": ("mS/cm", 1.0),
                  "s/cm": ("mS/cm", 0.001), "cycles": ("cycles", 1.0), "h": ("h", 1.0), "v": ("V", 1.0)}


def _is_literature_csv(head: bytes, path: Path) -> bool:
    return {"doi", "figure", "quantity"} <= set(header_names(head))


def _is_xlsx(head: bytes, path: Path) -> bool:
    return head.startswith(b"PK\x03\x04") and b"xl/" in head and path.suffix.lower() in (".xlsx", ".xlsm")


@register("literature_csv", suffixes=(".csv",), sniff=_is_literature_csv, library="polars",
          description="literature table: one reported value per row with DOI and figure (+ the cell's recipe)")
def read_literature_csv(path: Path, **options) -> Reading:
    return _literature(path, load(path, LITERATURE_REQUIRED))


@register("literature_xlsx", suffixes=(".xlsx", ".xlsm"), sniff=_is_xlsx, library="fastexcel",
          description="literature table as an Excel workbook (first sheet), same columns as literature_csv")
def read_literature_xlsx(path: Path, *, sheet: int | str = 0, **options) -> Reading:
    try:
        frame = pl.read_excel(path, sheet_id=sheet + 1 if isinstance(sheet, int) else None,
                              sheet_name=sheet if isinstance(sheet, str) else None, infer_schema_length=0)
    except Exception as exc:  # fastexcel raises its own types for broken workbooks
        raise InputError(f"not a readable Excel workbook ({type(exc).__name__}: {str(exc).splitlines()[0]}).",
                         file=str(path)) from None
    return _literature(path, load(path, LITERATURE_REQUIRED, frame.cast(pl.String)))


def _literature(path: Path, frame: pl.DataFrame) -> Reading:
    # every row's recipe values by the cells.csv rules (row numbers as the spreadsheet shows them) ...
    frame = recipe.validate(frame, str(path), required=(), rows=frame["_row"])
    frame = numbers(frame, path, ("value", "at_cycle"))
    required_values(frame, path, LITERATURE_REQUIRED)
    frame = _normalise_units(frame, path)
    known = set(LITERATURE_COLUMNS) | set(recipe.NAMES) | {"_row"}
    frame = frame.with_columns(extra_json=extra_json(frame, known))
    rows = pl.concat([frame, _twins(frame)], how="diagonal_relaxed") if "loading_mg_cm2" in frame.columns else frame
    literature = rows.select([c for c in LITERATURE_COLUMNS if c in rows.columns] + ["extra_json"])
    tables = {"literature": literature.with_columns(
        pl.col("at_cycle").cast(pl.Int64) if "at_cycle" in literature.columns
        else pl.lit(None, pl.Int64).alias("at_cycle")).to_arrow()}
    if "process" in frame.columns:
        tables["cells"] = _cells(frame, path).to_arrow()
    return Reading(tables, {"rows": literature.height})


def _cells(frame: pl.DataFrame, path: Path) -> pl.DataFrame:
    """One cells row per cell_id, with the DOI as source: a row cells.csv would accept, or an error naming the
    cell's first row (a recipe value given twice differently, or a required one given nowhere)."""
    columns = [c for c in frame.columns if c in recipe.NAMES and c not in ("cell_id", "source", "reference")]
    per_cell = frame.group_by("cell_id", maintain_order=True)
    conflict = per_cell.agg(pl.col("_row").first(), *[pl.col(c).drop_nulls().n_unique() for c in columns])
    for c in columns:
        bad = conflict.filter(pl.col(c) > 1)
        if bad.height:
            raise InputError("the cell's rows give this recipe value differently.", file=str(path),
                             row=bad["_row"][0], column=c, expected="one value per cell",
                             found=frame.filter(pl.col("cell_id") == bad["cell_id"][0])[c].unique().to_list())
    cells = per_cell.agg([pl.col("_row").first()] + [pl.col(c).drop_nulls().first() for c in columns]
                         + [pl.col("doi").first().alias("source"),
                            pl.col("figure").unique(maintain_order=True).str.join("; ").alias("reference")])
    return recipe.validate(cells, str(path), rows=cells["_row"]).drop("_row")


def _normalise_units(frame: pl.DataFrame, path: Path) -> pl.DataFrame:
    spelled = frame["unit"].str.strip_chars().str.to_lowercase()
    canonical = [UNIT_SPELLINGS.get(key, (given, 1.0)) for given, key in zip(frame["unit"], spelled)]
    frame = frame.with_columns(pl.Series("unit", [u for u, _ in canonical], pl.String),
                               (pl.col("value") / pl.Series([d for _, d in canonical], dtype=pl.Float64)).alias("value"))
    bad = frame.filter((pl.col("unit") == "fraction") & ~pl.col("value").is_between(0, 1))
    if bad.height:
        raise InputError("value out of range.", file=str(path), row=bad["_row"][0], column="value",
                         expected="a fraction within 0-1 (or a percentage with unit %)", found=bad["value"][0])
    return frame


def _twins(frame: pl.DataFrame) -> pl.DataFrame:
    """Capacities in the other unit, from the cell's loading: mAh/cm2 = mAh/g x loading / 1000."""
    loading = pl.col("loading_mg_cm2")
    specific = frame.filter((pl.col("unit") == "mAh/g") & loading.is_not_null()).with_columns(
        value=pl.col("value") * loading / 1000, unit=pl.lit("mAh/cm2"))
    areal = frame.filter((pl.col("unit") == "mAh/cm2") & loading.is_not_null()).with_columns(
        value=pl.col("value") * 1000 / loading, unit=pl.lit("mAh/g"))
    twins = pl.concat([specific, areal])
    note = pl.lit("derived from the reported value and loading_mg_cm2")
    return twins.with_columns(note=pl.when(pl.col("note").is_null()).then(note)
                              .otherwise(pl.col("note") + "; " + note) if "note" in twins.columns else note)
