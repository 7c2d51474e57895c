"""Issue 15 items 4, 5, 7: the SQL console allows functions by allow-list (every DuckDB function enumerated), cannot
be bypassed to read the catalog file or the temp folder, runs within a memory limit, bounds its own check, answers
every failure with one refusal line, and downloads formula-safe CSV."""
from __future__ import annotations

import csv
import io
import os
import time
from pathlib import Path

import duckdb
import pytest

from app.ui import console_rules, sql_console


@pytest.fixture(scope="module")
def small_lake(tmp_path_factory) -> Path:
    from app.demo import build_demo
    root = tmp_path_factory.mktemp("console") / "lake"
    build_demo(root, n_cells=3)
    return root


def duckdb_functions(*types: str) -> list[str]:
    con = duckdb.connect()
    try:
        marks = ", ".join("?" for _ in types)
        return [r[0] for r in con.execute(f"SELECT DISTINCT function_name FROM duckdb_functions() WHERE "
                                          f"function_type IN ({marks}) ORDER BY 1", list(types)).fetchall()]
    finally:
        con.close()


TABLE_FUNCTIONS = duckdb_functions("table", "table_macro")


@pytest.mark.parametrize("name", TABLE_FUNCTIONS)
def test_every_table_function_is_allowed_on_purpose_or_refused_with_a_reason(name):
    """A DuckDB upgrade's new table function lands in the refused branch: the default is to refuse."""
    if name in console_rules.ALLOWED_TABLE_FUNCTIONS:
        assert console_rules.table_function_refusal(name) is None
        sql_console.check(f"SELECT * FROM {name}()")                 # passes the check (may fail to bind: no args)
        return
    with pytest.raises(sql_console.Refused, match=rf"^{name}\(\) refused: it "):
        sql_console.check(f"SELECT * FROM {name}()")
    with pytest.raises(sql_console.Refused, match=rf"^{name}\(\) refused"):   # also nested out of sight
        sql_console.check(f"SELECT * FROM cells WHERE cell_id IN (SELECT 1 FROM {name}())")


def test_the_allow_lists_name_only_functions_duckdb_has():
    assert set(console_rules.ALLOWED_TABLE_FUNCTIONS) <= set(TABLE_FUNCTIONS)
    others = set(duckdb_functions("scalar", "aggregate", "window", "macro"))
    assert console_rules.allowed_functions() <= others
    assert not set(console_rules.REFUSED_FUNCTIONS) & console_rules.allowed_functions()


def test_every_other_function_is_allowed_by_the_list_or_refused():
    names = duckdb_functions("scalar", "aggregate", "window", "macro")
    for name in names:
        listed = name in console_rules.allowed_functions()
        assert (console_rules.function_refusal(name) is None) == listed, name
    refused = [n for n in names if n not in console_rules.allowed_functions()]
    assert {"current_setting", "getvariable", "write_log"} <= set(refused)
    for name in ("current_setting", "getvariable", "nextval", "write_log"):
        with pytest.raises(sql_console.Refused, match=rf"^{name}\(\) refused"):
            sql_console.check(f"SELECT {name}('x')")


def test_a_function_duckdb_adds_later_is_refused_by_default():
    assert console_rules.table_function_refusal("brand_new_reader") == console_rules.DEFAULT_REASON
    with pytest.raises(sql_console.Refused, match="brand_new_reader.*not among the table functions"):
        sql_console.check("SELECT * FROM brand_new_reader('/etc/passwd')")
    with pytest.raises(sql_console.Refused, match="brand_new_scalar.*not among the functions the console allows"):
        sql_console.check("SELECT brand_new_scalar('/etc/passwd')")


BYPASSES = {   # the issue's routes to the raw catalog file and the temp folder
    "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT * FROM read_blob(''lake.duckdb'')'))":
        "SQL hidden in a string",
    "SELECT * FROM parquet_full_metadata('{root}/lake.duckdb')": "reads files",
    "SELECT * FROM parquet_page_index('{root}/lake.duckdb')": "reads files",
    "SELECT * FROM read_blob('.tmp/anything')": "reads files",
    "SELECT current_setting('temp_directory')": "settings",
    "SELECT * FROM duckdb_settings()": "internals",
    "SELECT * FROM histogram(cells, loading_mg_cm2)": "not among the table functions",
}


@pytest.mark.parametrize("sql,reason", BYPASSES.items(), ids=[q[:45] for q in BYPASSES])
def test_the_issue_s_bypasses_are_refused(small_lake, sql, reason):
    with pytest.raises(sql_console.Refused, match=reason):
        sql_console.run(small_lake, sql.format(root=small_lake))


def test_the_sandbox_reads_no_temp_folder_and_is_limited(small_lake, tmp_path, monkeypatch):
    """Layer 2 alone: no temp folder among the readable directories, limits set. (DuckDB keeps its own attached
    catalog file readable whatever the settings; its bytes hold what the console can query anyway, and layer 1
    refuses every function that reads files.)"""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".tmp").mkdir()
    (tmp_path / ".tmp" / "spill").write_text("secret")
    monkeypatch.setenv(sql_console.MEMORY_ENV, "300MB")
    monkeypatch.setenv(sql_console.THREADS_ENV, "1")
    with sql_console.open_sandboxed(small_lake) as con:
        settings = dict(con.sql("SELECT name, value FROM duckdb_settings() WHERE name IN ('allowed_directories', "
                                "'temp_directory', 'threads', 'memory_limit')").fetchall())
        assert settings["allowed_directories"] == f"[{small_lake.resolve() / 'data'}/]"
        assert settings["temp_directory"] == "" and settings["threads"] == "1"
        assert settings["memory_limit"].startswith("286") or "300" in settings["memory_limit"]
        for sql in (f"SELECT * FROM read_blob('{small_lake}/demo_inputs/cells.csv')",
                    "SELECT * FROM read_blob('.tmp/spill')", f"SELECT * FROM read_blob('{tmp_path}/.tmp/spill')"):
            with pytest.raises(duckdb.PermissionException):
                con.sql(sql).fetchall()


def test_a_query_over_the_memory_limit_is_stopped(small_lake, monkeypatch):
    monkeypatch.setenv(sql_console.MEMORY_ENV, "256MB")
    with pytest.raises(sql_console.Refused, match=r"memory limit \(256MB, CATHODE_CONSOLE_MEMORY\)"):
        sql_console.run(small_lake, "SELECT string_agg(repeat('x', 1000000), '') FROM range(600)")
    monkeypatch.setenv(sql_console.MEMORY_ENV, "lots")
    with pytest.raises(sql_console.Refused, match="CATHODE_CONSOLE_MEMORY must be a size"):
        sql_console.run(small_lake, "SELECT 1")


def test_the_check_is_bounded_in_length_time_and_depth(small_lake):
    huge = "SELECT count(*) FROM cells WHERE cell_id IN (" + ",".join(["'c00000'"] * 800_000) + ")"   # ~7 MB
    started = time.perf_counter()
    with pytest.raises(sql_console.Refused, match=r"characters long; the console takes at most 100,000"):
        sql_console.run(small_lake, huge)
    assert time.perf_counter() - started < 1.0
    near_cap = "SELECT count(*) FROM cells WHERE cell_id IN (" + ",".join(
        f"'c{i:06d}'" for i in range(9_000)) + ")"                       # just under 100 kB: checked, and quick
    started = time.perf_counter()
    assert sql_console.run(small_lake, near_cap).table.num_rows == 1
    assert time.perf_counter() - started < sql_console.CHECK_TIMEOUT_S
    with pytest.raises(sql_console.Refused, match="nested too deeply"):
        sql_console.run(small_lake, "SELECT " + "+".join(["1"] * 500))
    assert sql_console.run(small_lake, "SELECT " + "+".join(["1"] * 50) + " AS n").table["n"][0].as_py() == 50


def test_every_failure_is_one_refusal_line(small_lake, monkeypatch):
    for sql in ("SELECT error('boom')", "SELECT * FROM no_such_table", "SELECT 'a'::INTEGER"):
        with pytest.raises(sql_console.Refused) as refused:
            sql_console.run(small_lake, sql)
        assert "\n" not in str(refused.value) and str(refused.value).startswith("DuckDB: ")
    monkeypatch.setattr(sql_console, "MAX_RESULT_BYTES", 100_000)
    with pytest.raises(sql_console.Refused, match="the result is over"):
        sql_console.run(small_lake, "SELECT repeat('x', 1000) AS s FROM range(5000)")


def test_analysts_queries_still_run(small_lake):
    for sql in ("SELECT cell_id, process ILIKE '%cal%' AS c, CASE WHEN loading_mg_cm2 > 10 THEN 'hi' ELSE 'lo' END "
                "AS k, coalesce(eca_wt_frac, 0)::DOUBLE AS e, strftime(now(), '%Y') AS y, regexp_replace(cell_id, "
                "'a', 'b') AS r, list_transform([1, 2], lambda x: x * 2) AS l, row_number() OVER (ORDER BY cell_id) "
                "AS i FROM cells",
                "SELECT process, quantile_cont(loading_mg_cm2, 0.5) AS m, count(*) AS n FROM cells GROUP BY ALL",
                "SELECT * FROM range(3) t(x), unnest([1, 2]) u(y)",
                "SELECT table_name FROM duckdb_tables() ORDER BY 1",
                "SELECT {'a': 1}.a AS a, [1, 2][1] AS b, 'x' || 'y' AS c, 2 ** 3 AS d, 5 // 2 AS e"):
        assert sql_console.run(small_lake, sql).table.num_rows >= 1, sql


def test_the_console_download_is_formula_safe(small_lake):
    result = sql_console.run(small_lake, "SELECT '=HYPERLINK(''http://x'')' AS link, '@SUM(A1)' AS at, "
                                         "'-2+3' AS dash, -3.5 AS n, NULL AS empty, cell_id FROM cells LIMIT 1")
    text = sql_console.download_csv(result.table)
    header, row = list(csv.reader(io.StringIO(text)))
    assert header == ["link", "at", "dash", "n", "empty", "cell_id"]
    assert row[:5] == ["'=HYPERLINK('http://x')", "'@SUM(A1)", "'-2+3", "-3.5", ""]
    assert os.path.basename(row[5]) == row[5]
