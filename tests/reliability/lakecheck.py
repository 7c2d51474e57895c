"""Checks shared by the reliability tests: what a consistent lake looks like, and a fingerprint of its content.

The fingerprint is everything a query can see, minus what legitimately differs between two lakes holding the same
commits (timestamps, absolute paths): lake version, row count of every table and view, per-cell row counts and
checksums, the ingested sources and the registered files.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from lake import schema, store

BULK = tuple(t.name for t in schema.ALL if t.kind == "bulk")
# per-cell content: (table, the sums that would change if any row were lost, doubled or torn)
PER_CELL = {
    "cycles": "SELECT cell_id, count(*), sum(cycle_index), round(sum(discharge_capacity_mah_g), 3) FROM cycles",
    "timeseries": "SELECT cell_id, count(*), round(sum(voltage_volt), 3), round(sum(test_time_second), 1) "
                  "FROM timeseries",
    "eis_points": "SELECT s.cell_id, count(*), round(sum(z_real_ohm), 3), round(sum(frequency_hz), 1) "
                  "FROM eis_points p JOIN eis_spectra s USING (spectrum_id)"}


def require(ok: bool, reason: str) -> None:
    """A missing tool: a failure under CI (which must install it: see .ci/run), a skip with the reason elsewhere."""
    if not ok:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI must provide it: see .ci/run)")
        pytest.skip(reason)


def cathode_command() -> list[str]:
    """The installed `cathode` script beside this Python, else the same entry point through `-m`."""
    script = Path(sys.executable).with_name("cathode")
    return [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]


def fingerprint(root: Path) -> dict:
    """Everything a reader can see of the lake's content, comparable across lakes with the same commits."""
    with store.connect(root) as con:
        return fingerprint_with(con)


def fingerprint_with(con: duckdb.DuckDBPyConnection) -> dict:
    """The fingerprint, read through one open connection (one snapshot)."""
    def rows(sql: str) -> list[tuple]:
        return [tuple(r) for r in con.execute(sql).fetchall()]
    fp = {"version": rows("SELECT coalesce(max(lake_version), 0) FROM commits")[0][0],
          "commits": rows("SELECT lake_version, command, summary FROM commits ORDER BY 1"),
          "counts": {t.name: rows(f"SELECT count(*) FROM {t.name}")[0][0] for t in schema.ALL
                     if t.name != "lake_meta"},
          "sources": rows("SELECT sha256, status, rows, lake_version FROM sources WHERE status = 'ingested' "
                          "ORDER BY 1"),
          "rejected": rows("SELECT DISTINCT sha256 FROM sources WHERE status = 'rejected' ORDER BY 1"),
          "bulk_files": rows("SELECT table_name, path, sha256, rows, lake_version FROM bulk_files ORDER BY 2"),
          "cells": rows("SELECT cell_id, lake_version FROM cells ORDER BY 1")}
    for table, sql in PER_CELL.items():
        fp[table] = rows(f"{sql} GROUP BY ALL ORDER BY 1")
    return fp


def check_consistent(root: Path) -> None:
    """The catalog opens (stock client and cathode's path), each bulk view reads exactly the registered files,
    every registered file is whole (its sha256 and row count match the catalog)."""
    root = Path(root).resolve()
    stock = duckdb.connect(str(store.catalog_path(root)), read_only=True)   # what an analyst's client does
    stock.close()
    with store.connect(root) as con:
        registered = con.execute("SELECT table_name, path, sha256, rows FROM bulk_files").fetchall()
        for table in BULK:
            mine = {r[1]: r for r in registered if r[0] == table}
            sql = con.execute("SELECT sql FROM duckdb_views() WHERE view_name = ?", [table]).fetchall()[0][0]
            listed = {str(Path(p).relative_to(root)) for p in re.findall(r"'([^']+?\.parquet)'", sql)}
            assert listed == set(mine), f"view {table} lists {sorted(listed ^ set(mine))} unlike bulk_files"
            seen = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            assert seen == sum(r[3] for r in mine.values()), f"view {table} shows {seen} rows"
    for _, path, sha, _ in registered:
        assert hashlib.sha256((root / path).read_bytes()).hexdigest() == sha, f"{path} is not whole"


def copy_sample(src: Path, folder: Path) -> list[Path]:
    """Copy a sample (and its Arbin-style `_Metadata.csv` sidecar, if any) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    copied = [Path(shutil.copy(src, folder / src.name))]
    sidecar = src.with_name(src.stem + "_Metadata.csv")
    if sidecar.exists():
        copied.append(Path(shutil.copy(sidecar, folder / sidecar.name)))
    return copied


def run_cathode(*args, env=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([*cathode_command(), *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=timeout)
