"""Column-wise helpers the CSV-shaped readers share (lab templates, literature tables, spectra): load a table as
text with spreadsheet row numbers, parse numbers, check a rule, and name the first offending row.

Rows are numbered as a spreadsheet shows them: the header is row 1, the first data row is row 2 (column `_row`).
The recipe's own rules are not here: they live in lake.recipe (`validate`).
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl

from ingest.limits import check_text_columns
from ingest.readers.text import head_lines, utf8_source
from lake.errors import InputError

ISO_EXAMPLE = "2025-03-01T14:30:00Z or 2025-03-01 16:30:00+02:00"


def header_names(head: bytes) -> list[str]:
    """The comma-separated names on a text file's first line (UTF-8, UTF-16 or cp1252, see text.py); [] for empty
    content. A NUL byte further down does not hide the header: the ingest limits reject it with its row and column."""
    lines = head_lines(head, 1)
    return [name.strip() for name in lines[0].split(",")] if lines else []


def load(path: Path, required: tuple[str, ...], frame: pl.DataFrame | None = None) -> pl.DataFrame:
    """The file as text columns (blank = null), with a spreadsheet row number `_row`, or a clear error."""
    if frame is None:
        try:
            frame = pl.read_csv(utf8_source(path), infer_schema=False, encoding="utf8")
        except (pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
            raise InputError(f"not a readable CSV file ({str(exc).splitlines()[0]}).", file=str(path)) from None
    frame = frame.rename({c: c.strip() for c in frame.columns})
    check_text_columns(frame.to_arrow(), path, rows=pl.int_range(2, frame.height + 2, eager=True).to_arrow())
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputError("missing required column.", file=str(path), column=missing[0],
                         expected=", ".join(required), found=", ".join(frame.columns))
    if frame.height == 0:
        raise InputError("no data rows under the header.", file=str(path))
    blank = pl.col(pl.String).str.strip_chars().replace("", None)
    return frame.with_columns(blank).with_row_index("_row", offset=2)


def numbers(frame: pl.DataFrame, path: Path, names) -> pl.DataFrame:
    """``names`` (those present) parsed as Float64, or an error naming the first value that is not a number."""
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


def utc_times(frame: pl.DataFrame, path: Path, names) -> pl.DataFrame:
    """``names`` (those present) parsed as ISO 8601 dates and times in UTC (a value without an offset is UTC), or
    an error naming the first value that is not one."""
    for name in names:
        if name not in frame.columns:
            continue
        parsed = []
        for row, text in zip(frame["_row"], frame[name]):
            try:
                when = None if text is None else dt.datetime.fromisoformat(text)
            except ValueError:
                raise InputError("not an ISO 8601 date and time.", file=str(path), row=row, column=name,
                                 expected=f"e.g. {ISO_EXAMPLE} (without an offset: UTC)", found=text) from None
            parsed.append(when if when is None or when.tzinfo is None else when.astimezone(dt.timezone.utc))
        frame = frame.with_columns(pl.Series(name, [None if w is None else w.replace(tzinfo=None) for w in parsed],
                                             dtype=pl.Datetime("us")).dt.replace_time_zone("UTC"))
    return frame


def required_values(frame: pl.DataFrame, path: Path, names) -> None:
    for name in names:
        bad = frame.filter(pl.col(name).is_null())
        if bad.height:
            raise InputError("required value is blank.", file=str(path), row=bad["_row"][0], column=name,
                             expected="a value", found="")


def check(frame: pl.DataFrame, path: Path, name: str, rule: pl.Expr, expected: str) -> None:
    if name not in frame.columns:
        return
    bad = frame.filter(pl.col(name).is_not_null() & ~rule)
    if bad.height:
        raise InputError("value out of range.", file=str(path), row=bad["_row"][0], column=name,
                         expected=expected, found=bad[name][0])


def unique(frame: pl.DataFrame, path: Path, keys: list[str]) -> None:
    dup = frame.filter(pl.struct(keys).is_duplicated())
    if dup.height:
        first = dup.row(1 if dup.height > 1 else 0, named=True)
        raise InputError(f"duplicate {' and '.join(keys)}.", file=str(path), row=first["_row"], column=keys[-1],
                         expected="each value once", found=first[keys[-1]])


def extra_json(frame: pl.DataFrame, known: set[str]) -> pl.Expr:
    """Unknown columns as one JSON text per row (null when there are none): nothing the lab wrote is lost."""
    extra = [c for c in frame.columns if c not in known]
    if not extra:
        return pl.lit(None, pl.String)
    return pl.struct(extra).map_elements(lambda row: json.dumps(row, sort_keys=True), return_dtype=pl.String)
