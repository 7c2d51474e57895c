"""The storage promises: versioned atomic commits, invisible uncommitted files, a queued writer lock, any client."""
from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time

import duckdb
import pyarrow as pa
import pytest

from lake import schema, store
from lake.errors import LakeError
from tests.conftest import lake_state


def _ts(cell: str, n: int = 5) -> pa.Table:
    return pa.table({"cell_id": [cell] * n, "source_sha256": ["f" * 64] * n,
                     "voltage_volt": [3.0 + 0.1 * i for i in range(n)], "raw_vendor_flag": list(range(n))})


def _cell(cell: str, loading=12.7) -> pa.Table:
    return pa.table({"cell_id": [cell], "process": ["hot_calendered"], "loading_mg_cm2": [loading]})


def test_init_creates_every_declared_table_with_comments(lake):
    objects = store.query(lake, "SELECT table_name AS name, comment FROM duckdb_tables() UNION ALL "
                                "SELECT view_name, comment FROM duckdb_views() WHERE NOT internal").to_pylist()
    comments = {o["name"]: o["comment"] for o in objects}
    for table in schema.ALL:
        assert comments[table.name] == table.description
    columns = store.query(lake, "SELECT table_name, column_name, comment FROM duckdb_columns()").to_pylist()
    published = {(c["table_name"], c["column_name"]): c["comment"] for c in columns}
    for table in schema.ALL:
        for col in table.columns:
            assert published[(table.name, col.name)] == col.comment, (table.name, col.name)
    assert store.init(lake) == lake and store.lake_version(lake) == 0     # idempotent


def test_schema_is_documented_with_units_in_names():
    for table in schema.ALL:
        assert table.description and len(set(table.names)) == len(table.names)
        for col in table.columns:
            assert col.description and col.type in store.ARROW_TYPES, (table.name, col.name)
            assert not col.name.endswith("_pct"), "fractions are 0-1, never percent"


def test_a_commit_raises_the_version_and_stamps_rows(lake):
    with store.writer(lake, "test") as w:
        w.insert("cell_records", _cell("A"))
        w.stage_bulk("timeseries", _ts("A"), "f" * 64, "A")
    with store.writer(lake, "test") as w:
        w.insert("cell_records", _cell("B"))
    assert store.lake_version(lake) == 2
    assert store.query(lake, "SELECT cell_id, lake_version FROM cells ORDER BY 1").to_pylist() == [
        {"cell_id": "A", "lake_version": 1}, {"cell_id": "B", "lake_version": 2}]
    ts = store.query(lake, "SELECT * FROM timeseries")
    assert ts.num_rows == 5 and ts["raw_vendor_flag"].to_pylist() == [0, 1, 2, 3, 4]
    assert ts.column_names[:2] == ["cell_id", "source_sha256"]      # canonical order, extras after
    assert set(ts["lake_version"].to_pylist()) == {1}


def test_a_failed_commit_leaves_the_lake_unchanged(lake):
    with store.writer(lake, "test") as w:
        w.insert("cell_records", _cell("A"))
    before = lake_state(lake)
    # A real DuckDB failure inside the transaction, after a Parquet file was staged: text in a DOUBLE column.
    with pytest.raises(duckdb.ConversionException):
        with store.writer(lake, "test") as w:
            w.stage_bulk("timeseries", _ts("B"), "e" * 64, "B")
            w.insert("cell_records", _cell("B"))
            w.insert("cell_records", _cell("C", loading="heavy"))
    assert lake_state(lake) == before
    # An exception in the caller's block: nothing committed, staged files removed.
    with pytest.raises(RuntimeError):
        with store.writer(lake, "test") as w:
            w.stage_bulk("timeseries", _ts("B"), "e" * 64, "B")
            raise RuntimeError("crash")
    assert lake_state(lake) == before


def test_an_uncommitted_parquet_file_is_never_visible(lake):
    with store.writer(lake, "test") as w:
        w.stage_bulk("timeseries", _ts("A"), "f" * 64, "A")
    stray = lake / "data" / "timeseries" / "cell_id=Z" / "0123.parquet"       # as a crashed ingest leaves it
    stray.parent.mkdir(parents=True)
    import pyarrow.parquet as pq
    pq.write_table(store.conform("timeseries", _ts("Z").append_column("lake_version", pa.array([9] * 5))), stray)
    assert store.query(lake, "SELECT DISTINCT cell_id FROM timeseries")["cell_id"].to_pylist() == ["A"]


def test_a_second_writer_waits_for_the_first(lake):
    events = []
    held = threading.Event()

    def first():
        with store.writer(lake, "first") as w:
            w.insert("cell_records", _cell("A"))
            held.set()
            time.sleep(0.6)
        events.append("first done")

    thread = threading.Thread(target=first)
    thread.start()
    held.wait(5)
    with store.writer(lake, "second", on_wait=lambda msg: events.append("waited")) as w:
        w.insert("cell_records", _cell("B"))
    events.append("second done")
    thread.join()
    assert events == ["waited", "first done", "second done"]
    assert store.lake_version(lake) == 2


def test_a_writer_that_waits_too_long_gets_a_clear_error(lake):
    held, release = threading.Event(), threading.Event()

    def holder():
        with store.writer(lake, "holder"):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    try:
        with pytest.raises(LakeError, match="Waited 0 s for the writer lock"):
            with store.writer(lake, "late", timeout_s=0.2):
                pass
    finally:
        release.set()
        thread.join()


def test_stock_duckdb_client_from_another_directory_sees_everything(lake, tmp_path):
    with store.writer(lake, "test") as w:
        w.insert("cell_records", _cell("A"))
        w.stage_bulk("timeseries", _ts("A"), "f" * 64, "A")
    script = ("import duckdb; con = duckdb.connect('lake.duckdb', read_only=True); "
              "print(sorted(r[0] for r in con.sql('show tables').fetchall())); "
              "print(con.sql('select count(*) from timeseries').fetchall()[0][0])")
    out = subprocess.run([sys.executable, "-c", script.replace("lake.duckdb", str(lake / "lake.duckdb"))],
                         cwd=tmp_path, capture_output=True, text=True, check=True).stdout.splitlines()
    assert eval(out[0]) == sorted(t.name for t in schema.ALL) and out[1] == "5"


def test_a_moved_lake_still_reads_its_parquet(lake, tmp_path):
    with store.writer(lake, "test") as w:
        w.stage_bulk("timeseries", _ts("A"), "f" * 64, "A")
    moved = tmp_path / "moved"
    shutil.move(str(lake), moved)
    assert store.query(moved, "SELECT count(*) AS n FROM timeseries")["n"][0].as_py() == 5


def test_no_lake_is_a_clear_error(tmp_path):
    with pytest.raises(LakeError, match="No lake at .*cathode .*init"):
        store.query(tmp_path / "nowhere", "SELECT 1")


def test_a_lake_made_by_an_older_version_is_brought_up_to_date_on_open(tmp_path):
    """A lake whose catalog predates columns (sources.warnings, cycles.ended_at) and views is upgraded the first
    time it is opened, reader or writer: no 'column not found' when an older lake meets newer code."""
    import duckdb

    from ingest.pipeline import ingest
    from tests.conftest import CELLS_HEADER, GOOD_CELLS, write_csv
    root = store.init(tmp_path / "old")
    con = duckdb.connect(str(store.catalog_path(root)))
    con.execute("DROP VIEW cell_life")
    con.execute("DROP VIEW cell_spans")
    con.execute("ALTER TABLE sources DROP COLUMN warnings")
    con.execute("ALTER TABLE cycles DROP COLUMN ended_at")
    con.execute("UPDATE lake_meta SET value = '1' WHERE key = 'schema_version'")
    con.close()
    assert store.query(root, "SELECT count(*) AS n FROM cell_life")["n"][0].as_py() == 0      # a reader upgrades
    bad = write_csv(tmp_path / "bad.csv", CELLS_HEADER, [["X", "cold_calendered", -3, 0, 60, 4.2, 0.1, 1, 0.2]])
    good = write_csv(tmp_path / "cells.csv", CELLS_HEADER, GOOD_CELLS)
    outcomes = ingest(root, [bad, good], progress=False)
    assert [o.status for o in outcomes] == ["rejected", "ingested"]
    assert store.query(root, "SELECT count(*) AS n FROM sources WHERE warnings IS NULL")["n"][0].as_py() == 2
    assert store.query(root, "SELECT count(ended_at) AS n FROM cycles")["n"][0].as_py() == 0   # cycles.ended_at
    assert store.query(root, "SELECT count(*) AS n FROM cell_spans")["n"][0].as_py() == 0     # and its view


def test_a_bulk_file_that_cannot_be_written_is_one_error_and_changes_nothing(tmp_path, cli):
    """A lake whose data/ is not a folder (a damaged copy, a full or read-only disk behaves alike): ingesting a
    time series fails with one line naming the folder, exit 1, and the lake stays as it was."""
    from tests.conftest import lake_state
    from virtual_lab import lab as vl
    root = store.init(tmp_path / "lake")
    cells, cycles = vl.write_templates(tmp_path / "in", 2, seed=3, n_cycles=5)
    assert cli("--lake", root, "ingest", cells, cycles)[0] == 0
    series = vl.write_timeseries_csv(vl.timeseries(vl.campaign_results(2, 3, 5)[0][1], n_cycles=2),
                                     tmp_path / "VL-0001.bdf.csv")
    (root / "data").rename(root / "data-moved")
    (root / "data").write_text("not a folder")
    before = {k: v for k, v in lake_state(root).items() if k != "files"}
    code, out, err = cli("--lake", root, "ingest", series)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "cannot write the Parquet file under" in err and "nothing was committed" in err
    assert {k: v for k, v in lake_state(root).items() if k != "files"} == before
