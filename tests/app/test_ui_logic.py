"""The app's plain-function parts: the SQL console's safety rules, uploads, dQ/dV and circuits, `cathode app`."""
from __future__ import annotations

import os
from pathlib import Path

import duckdb
import numpy as np
import pytest

from app import outcomes as outcomes_text
from app.ui import charts, sql_console, uploads
from lake import store
from lake.errors import InputError
from tests.conftest import CELLS_HEADER, GOOD_CELLS, write_csv

ATTACKS = {   # statement -> words the refusal must contain
    "select * from read_csv('/etc/passwd')": "read_csv() refused",
    "select * from read_csv_auto('/etc/passwd')": "reads files",
    "select * from read_text('/etc/passwd')": "reads files",
    "select * from read_blob('/etc/passwd')": "reads files",
    "select * from glob('/etc/*')": "glob() refused",
    "select * from '/etc/passwd'": "file path used as a table",
    "select * from \"/etc/passwd\"": "file path used as a table",
    "select * from 'secrets.csv'": "file path used as a table",
    "select * from cells where cell_id in (select x from read_parquet('x.parquet'))": "read_parquet() refused",
    "select * from query('select 1')": "SQL hidden in a string",
    "COPY cells TO '/tmp/out.csv'": "COPY refused",
    "COPY (select 1) TO '/tmp/out.parquet'": "COPY refused",
    "EXPORT DATABASE '/tmp/dump'": "EXPORT",
    "ATTACH '/tmp/other.db' AS other": "ATTACH refused",
    "DETACH lake": "DETACH",
    "INSTALL httpfs": "INSTALL and LOAD",
    "LOAD httpfs": "INSTALL and LOAD",
    "SET enable_external_access = true": "SET refused",
    "RESET lock_configuration": "SET refused",
    "USE memory": "SET refused",
    "PRAGMA database_list": "PRAGMA refused",
    "CALL pragma_version()": "CALL refused",
    "CHECKPOINT": "CALL refused",
    "CREATE TABLE t AS SELECT 1": "read-only",
    "INSERT INTO commits VALUES (99, now(), 'x', 'y')": "read-only",
    "DELETE FROM cells": "read-only",
    "DROP VIEW cells": "read-only",
    "select 1; select 2": "one statement at a time",
    "": "empty",
    "selec 1": "cannot parse",
}


@pytest.fixture(scope="module")
def small_lake(tmp_path_factory) -> Path:
    from app.demo import build_demo
    root = tmp_path_factory.mktemp("logic") / "lake"
    build_demo(root, n_cells=3)
    return root


@pytest.mark.parametrize("sql,reason", ATTACKS.items(), ids=[q[:40] or "empty" for q in ATTACKS])
def test_the_console_refuses_and_says_why(small_lake, sql, reason):
    with pytest.raises(sql_console.Refused, match=None) as refused:
        sql_console.run(small_lake, sql)
    assert reason.lower() in str(refused.value).lower()
    assert not Path("/tmp/out.csv").exists() and not Path("/tmp/other.db").exists()


def test_the_console_runs_queries_over_every_kind_of_relation(small_lake):
    assert sql_console.run(small_lake, "select count(*) as n from timeseries").table["n"][0].as_py() > 0
    assert sql_console.run(small_lake, "FROM cell_life ORDER BY cycles_to_80 DESC LIMIT 2;").table.num_rows == 2
    for sql in ("DESCRIBE cells", "SHOW TABLES", "SUMMARIZE cycles", "EXPLAIN SELECT * FROM cells",
                "WITH x AS (SELECT 1 AS a) SELECT * FROM x", "VALUES (1), (2)"):
        assert sql_console.run(small_lake, sql).table.num_rows >= 1, sql


def test_row_cap_and_timeout(small_lake):
    result = sql_console.run(small_lake, "select * from range(25000)", row_cap=1000)
    assert result.truncated and result.table.num_rows == 1000
    assert not sql_console.run(small_lake, "select * from range(10)", row_cap=1000).truncated
    with pytest.raises(sql_console.Refused, match="time limit"):
        sql_console.run(small_lake, "select count(*) from range(100000000000) t(x)", timeout_s=0.5)


def test_the_sandbox_holds_even_without_the_checks(small_lake):
    """Layer 2 alone: a statement the parser check would refuse still cannot touch files or settings."""
    with sql_console.open_sandboxed(small_lake) as con:
        assert con.sql("select count(*) from timeseries").fetchall()[0][0] > 0     # the lake's own Parquet
        for sql in ("select * from read_csv('/etc/passwd')", "COPY cells TO '/tmp/out.csv'",
                    "ATTACH '/tmp/other.db'", "LOAD httpfs"):
            with pytest.raises(duckdb.PermissionException):
                con.sql(sql).fetchall()
        for sql in ("SET enable_external_access = true", "SET allowed_directories = ['/']"):
            with pytest.raises(duckdb.Error, match="locked|Cannot change"):
                con.execute(sql)
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute("CREATE TABLE lake.t(a INT)")


def test_the_sandbox_does_not_leak_into_other_readers(small_lake):
    """The app's other readers share DuckDB's per-file instance; the console's settings must not reach them."""
    with store.connect(small_lake) as reader:
        with sql_console.open_sandboxed(small_lake):
            csv = small_lake / "demo_inputs" / "cells.csv"
            assert reader.sql(f"select count(*) from read_csv('{csv}')").fetchall()[0][0] == 3
        assert sql_console.run(small_lake, "select 1 as x").table.num_rows == 1


def test_documentation_covers_the_schema():
    docs = {d["name"]: d for d in sql_console.documentation()}
    assert {"cells", "cycles", "timeseries", "sources", "cell_life"} <= set(docs)
    assert any(c["column"] == "voltage_volt" and c["unit"] == "V" for c in docs["timeseries"]["columns"])


@pytest.mark.parametrize("name,safe", [
    ("cells.csv", "cells.csv"), ("../../etc/passwd", "passwd"), ("..\\..\\x.csv", "x.csv"),
    (".bashrc", "bashrc"), ("VL-0003.bdf.csv", "VL-0003.bdf.csv"), ("my run (2).ndax", "my_run__2_.ndax"),
    ("a..b.csv", "a.b.csv"), ("x" * 300 + ".csv", "x" * 116 + ".csv")])
def test_upload_names_are_sanitised(name, safe):
    assert uploads.safe_name(name) == safe


@pytest.mark.parametrize("name", ["", "..", "/", "...."])
def test_unusable_upload_names_are_refused(name):
    with pytest.raises(InputError):
        uploads.safe_name(name)


def test_uploads_stay_inside_the_lake_and_respect_the_cap(lake):
    paths = uploads.save(lake, [uploads.Upload("../../evil.csv", b"a,b\n1,2\n"), uploads.Upload("ok.csv", b"x")])
    assert all(p.resolve().is_relative_to(lake.resolve() / "uploads") for p in paths)
    assert [p.name for p in paths] == ["evil.csv", "ok.csv"]
    with pytest.raises(InputError, match="size cap"):
        uploads.save(lake, [uploads.Upload("big.csv", b"x" * 2000)], max_mb=0.001)


def test_same_named_uploads_are_refused_not_renamed_onto_another_cell(lake):
    """Two `VL-0099.bdf.csv` once became cells VL-0099 and a phantom _VL-0099; now the batch is refused whole."""
    before = sorted((lake / "uploads").rglob("*")) if (lake / "uploads").exists() else []
    with pytest.raises(InputError, match="share a name") as err:
        uploads.save(lake, [uploads.Upload("a/VL-0099.bdf.csv", b"1"), uploads.Upload("b/VL-0099.bdf.csv", b"2")])
    assert "VL-0099.bdf.csv" in str(err.value)
    assert (sorted((lake / "uploads").rglob("*")) if (lake / "uploads").exists() else []) == before


def test_upload_names_keep_letters_of_any_script_as_the_cli_does():
    assert uploads.safe_name("Zelle-ä1.bdf.csv") == "Zelle-ä1.bdf.csv"
    assert uploads.safe_name("a b;c.csv") == "a_b_c.csv"


def test_an_upload_is_ingested_with_the_cli_s_messages(tmp_path, cli):
    """Same file, one lake through `cathode ingest`, another through the Ingest page's path: the same lines."""
    cells = write_csv(tmp_path / "cells.csv", CELLS_HEADER, GOOD_CELLS)
    bad = write_csv(tmp_path / "bad.csv", CELLS_HEADER, [["X1", "in_situ_polymerized", -3, 0, 60, 4.2, 0.1, 1, 0]])
    code, out, err = cli("--lake", tmp_path / "cli_lake", "ingest", "--no-progress", cells, bad)
    assert code == 1 and err.startswith("error: rejected")
    out = out.splitlines()[0] + "\n" + err.removeprefix("error: ") + out.splitlines()[-1]
    app_lake = store.init(tmp_path / "app_lake")
    outcomes = uploads.ingest_uploads(app_lake, [uploads.Upload(p.name, p.read_bytes()) for p in (cells, bad)])
    lines = "\n".join(outcomes_text.outcome_line(o) for o in outcomes)
    summary = outcomes_text.summary_line(outcomes, store.lake_version(app_lake))

    def strip(text: str) -> list[str]:     # the same but for the folder the file was read from
        return [" ".join(w if "/" not in w else Path(w).name for w in line.split()) for line in text.splitlines()]
    assert strip(lines + "\n" + summary) == strip(out)
    assert "loading_mg_cm2" in lines and "rejected" in lines
    rejected = store.query(app_lake, "SELECT original_path FROM sources WHERE status = 'rejected'").to_pylist()
    assert rejected[0]["original_path"].startswith(str((app_lake / "uploads").resolve()))


def test_pareto_mask():
    mask = charts.pareto_mask(np.array([1, 2, 3, 2, 1]), np.array([3, 2, 1, 1, 1]))
    assert mask.tolist() == [True, True, True, False, False]


def test_cathode_app_serves_the_ui_and_stops_on_sigterm(tmp_path):
    """`cathode app` becomes the Streamlit server (the same process answers on the port), so a supervisor's SIGTERM
    stops the server instead of leaving it running orphaned."""
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store.init(tmp_path / "lake")
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "--lake", str(tmp_path / "lake"), "app", "--port",
                             str(port), "--host", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "STREAMLIT_SERVER_HEADLESS": "true"})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as r:
                    assert r.read() == b"ok"
                    break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "the app did not answer within 60 s"
                time.sleep(0.5)
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        assert b"streamlit" in cmdline and b"--lake" in cmdline             # the server runs in cathode's process
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) is not None
        with socket.socket() as sock:                  # and nothing listens on the port any more
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # (TIME_WAIT of the health check is fine)
            sock.bind(("127.0.0.1", port))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_campaign_chart_draws_cells_on_lanes_and_a_rule_per_batch():
    import pandas as pd
    t = pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01"], utc=True)
    spans = pd.DataFrame({"cell_id": ["a", "b"], "process": ["hot_calendered", "in_situ_polymerized"],
                          "outcome": ["shorted", "still above 80 %"], "lane": [0, 1], "cycles_run": [10, 20],
                          "cycle_hours": [20.0, 20.0], "started_at": t[:2], "last_cycle_ended_at": t[1:],
                          "test_ended": [True, False]})
    batches = pd.DataFrame({"lake_version": [3], "created_at": [t[1]], "proposals": [4], "label": ["4 proposed"]})
    spec = charts.campaign_chart(spans, batches, "process", charts.time_domain(spans["started_at"],
                                                                                 batches["created_at"])).to_dict()
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["bar", "rule", "text"]
    assert len(charts.campaign_chart(spans, batches.iloc[:0], "outcome", ["2025-01-01", "2025-03-01"])
               .to_dict()["layer"]) == 1
