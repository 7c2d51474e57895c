"""Small helpers the derivations share: cleaning a time series, reading cells and time-series files from the lake."""
from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa

from lake.errors import InputError

TS_COLUMNS = ("test_time_second", "voltage_volt", "current_ampere", "cycle_count", "step_index", "step_count",
              "charging_capacity_ah", "discharging_capacity_ah")


def series(table: pa.Table, required=("test_time_second", "voltage_volt", "current_ampere"),
           what: str = "time series") -> tuple[dict[str, np.ndarray], int]:
    """Columns of a BDF time series as numpy arrays, time-sorted, with rows lacking a finite required value dropped.

    Returns (columns, n_dropped). Optional columns absent from the table are None.
    """
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise InputError(f"the {what} lacks a required column.", column=missing[0],
                         expected=", ".join(required), found=", ".join(table.column_names[:12]))
    cols: dict[str, np.ndarray | None] = {}
    for name in TS_COLUMNS:
        if name not in table.column_names:
            cols[name] = None
            continue
        col = table[name]
        if pa.types.is_integer(col.type):
            cols[name] = np.asarray(col.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
        else:
            cols[name] = np.asarray(col.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False))
    ok = np.ones(table.num_rows, dtype=bool)
    for name in required:
        if cols[name].dtype.kind == "f":
            ok &= np.isfinite(cols[name])
    order = np.argsort(cols["test_time_second"][ok], kind="stable")
    out = {k: (v[ok][order] if v is not None else None) for k, v in cols.items()}
    return out, int((~ok).sum())


def fingerprint(*parts) -> str:
    return "|".join("" if p is None else (f"{p:.6g}" if isinstance(p, float) else str(p)) for p in parts)


def cells(read) -> dict[str, dict]:
    """cell_id -> the cell's row of the cells view plus ``record`` (its lake_version) and parsed ``extra``."""
    rows = read("SELECT * FROM cells").to_pylist()
    out = {}
    for row in rows:
        try:
            row["extra"] = json.loads(row.get("extra_json") or "{}")
        except ValueError:
            row["extra"] = {}
        row["record"] = row.get("lake_version")
        out[row["cell_id"]] = row
    return out


def number(value) -> float | None:
    """A finite float or None."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def timeseries_files(read) -> list[dict]:
    """One row per time-series source file: cell_id, source_sha256, rows."""
    return read("SELECT cell_id, source_sha256, count(*) AS rows, min(cycle_count) AS first_cycle FROM timeseries "
                "GROUP BY ALL ORDER BY cell_id, source_sha256").to_pylist()


def load_series(read, source_sha256: str) -> pa.Table:
    have = set(read("SELECT * FROM timeseries LIMIT 0").column_names)
    cols = ", ".join(c for c in TS_COLUMNS if c in have)
    return read(f"SELECT {cols} FROM timeseries WHERE source_sha256 = ? ORDER BY test_time_second",
                [source_sha256])
