"""Rows out of the lake as CSV that a spreadsheet opens safely.

Lab people open exported CSVs in Excel or LibreOffice, which run a cell that starts with `=`, `+`, `-` or `@` (or
a tab or carriage return before one) as a formula (CSV injection). Text cells starting with one of these get a
leading apostrophe, as OWASP recommends; numbers are written as numbers (full precision), so -3.5 stays a value.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> object:
    """A cell value with spreadsheet formulas neutralised (text only) and None as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_rows(names: Sequence[str], rows: Sequence[dict], *, neutralise: bool = True) -> Iterator[str]:
    """CSV lines (header first) of ``rows`` (dicts keyed by ``names``)."""
    cell = safe_cell if neutralise else (lambda v: "" if v is None else v)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for values in ([cell(n) for n in names], *([cell(r[n]) for n in names] for r in rows)):
        writer.writerow(values)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
