"""The SQL console's safety rules, as plain functions (no Streamlit): check a statement, then run it sandboxed.

Two layers, so one mistake is not enough:
1. **Before running**, DuckDB's own parser (``extract_statements``, ``json_serialize_sql``) checks the text: exactly
   one statement; only a query (SELECT, WITH, FROM, VALUES, DESCRIBE, SHOW, SUMMARIZE, PIVOT or EXPLAIN); no table
   function that reads files (``read_csv('/etc/passwd')``, ``glob``, ``read_parquet`` …) and no file path used as a
   table. Each refusal says what was refused and why.
2. **While running**, the connection itself is read-only, has external access disabled (only the lake's own
   ``data/`` folder stays readable, for the bulk views) and its configuration locked, a timer interrupts a query that
   runs past the timeout, and at most ``row_cap`` rows are fetched.
"""
from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from lake import store

ROW_CAP = 10_000
TIMEOUT_S = 10.0
QUERY_TYPES = {"SELECT", "EXPLAIN"}
REFUSED_TYPES = {
    "COPY": "COPY reads or writes files; the console cannot touch files. Query the tables and download the result.",
    "ATTACH": "ATTACH opens another database; the console only reads this lake's catalog.",
    "DETACH": "DETACH changes the attached databases; the console only reads this lake's catalog.",
    "LOAD": "INSTALL and LOAD bring in extensions (code and network access); the console runs with none.",
    "SET": "SET, RESET and USE change the connection's settings, which are locked so the sandbox stays closed.",
    "VARIABLE_SET": "SET VARIABLE changes the connection's state; the console only runs queries.",
    "PRAGMA": "PRAGMA statements change or inspect settings; the console only runs queries "
              "(for the schema, see the documentation beside it or `DESCRIBE table`).",
    "CALL": "CALL runs a procedure (e.g. CHECKPOINT, pragma functions); the console only runs queries.",
    "EXPORT": "EXPORT DATABASE writes files; the console cannot touch files.",
    "VACUUM": "VACUUM changes the catalog; the console is read-only.",
    "TRANSACTION": "transactions are managed by the console; send just the query.",
    "PREPARE": "PREPARE/EXECUTE are not supported; send the query itself.",
    "EXECUTE": "PREPARE/EXECUTE are not supported; send the query itself.",
    "MULTI": "this statement expands to several (e.g. PIVOT ... ON without IN creates a type); write it as one "
             "SELECT, e.g. PIVOT with an explicit IN (...) list.",
}
WRITE_TYPES = {"INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "CREATE_FUNC", "ANALYZE", "UPDATE_EXTENSIONS",
               "MERGE_INTO", "COPY_DATABASE", "LOGICAL_PLAN", "RELATION"}
FILE_FUNCTIONS = {"read_csv", "read_csv_auto", "sniff_csv", "read_parquet", "parquet_scan", "parquet_metadata",
                  "parquet_schema", "parquet_file_metadata", "parquet_kv_metadata", "parquet_bloom_probe",
                  "read_json", "read_json_auto", "read_json_objects", "read_json_objects_auto", "read_ndjson",
                  "read_ndjson_auto", "read_ndjson_objects", "read_text", "read_blob", "glob", "read_xlsx",
                  "iceberg_scan", "delta_scan", "read_ipc", "st_read", "duckdb_extensions"}
HIDDEN_SQL_FUNCTIONS = {"query", "query_table"}


class Refused(ValueError):
    """A statement the console will not run; the message explains why."""


@dataclass
class Result:
    table: pa.Table
    truncated: bool
    seconds: float


def check(sql: str) -> str:
    """The single statement in ``sql``, if the console may run it; otherwise raise Refused with the reason."""
    text = (sql or "").strip()
    if not text:
        raise Refused("the query is empty: type one SELECT statement.")
    con = duckdb.connect(":memory:")
    try:
        try:
            statements = con.extract_statements(text)
        except duckdb.Error as exc:
            raise Refused(f"DuckDB cannot parse it: {_one_line(exc)}") from None
        if len(statements) != 1:
            raise Refused(f"one statement at a time: found {len(statements)}. Run them one by one.")
        statement = statements[0]
        kind = statement.type.name
        if kind in REFUSED_TYPES:
            raise Refused(f"{kind} refused: {REFUSED_TYPES[kind]}")
        if kind in WRITE_TYPES or kind not in QUERY_TYPES:
            raise Refused(f"{kind} refused: the console is read-only and runs only queries (SELECT, WITH, FROM, "
                          f"DESCRIBE, SUMMARIZE, EXPLAIN). Lake data changes only through `cathode ingest`.")
        query = statement.query.strip().rstrip(";") or text
        _check_tree(con, query)
        return query
    finally:
        con.close()


def _check_tree(con: duckdb.DuckDBPyConnection, query: str) -> None:
    """Walk the parsed query (DuckDB's JSON serialisation) for file readers and file paths used as tables."""
    body = query
    if body.split(None, 1)[0].upper() == "EXPLAIN":       # EXPLAIN [ANALYZE] <query>: check the query inside
        rest = body.split(None, 1)[1] if len(body.split(None, 1)) > 1 else ""
        body = rest.split(None, 1)[1] if rest.upper().startswith("ANALYZE") and " " in rest else rest
    try:
        tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [body]).fetchone()[0])
    except duckdb.Error:
        return                                           # not serialisable (DESCRIBE, SHOW …): the sandbox holds
    if tree.get("error"):
        return
    for node in _walk(tree):
        name = str(node.get("function_name", "")).lower()
        if name in FILE_FUNCTIONS or name.startswith("read_"):
            raise Refused(f"{name}() refused: it reads files, and the console cannot touch files outside the lake's "
                          f"tables. Query the tables and views instead (e.g. `FROM timeseries`).")
        if name in HIDDEN_SQL_FUNCTIONS:
            raise Refused(f"{name}() refused: it runs SQL hidden in a string, which the console cannot check. "
                          f"Write the query itself.")
        if node.get("type") == "BASE_TABLE" and _looks_like_path(str(node.get("table_name", ""))):
            raise Refused(f"'{node['table_name']}' refused: a file path used as a table reads a file, and the "
                          f"console cannot touch files. Use the lake's tables and views.")


def _walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _looks_like_path(name: str) -> bool:
    return any(ch in name for ch in "/\\*?:~") or Path(name).suffix.lower() in {
        ".csv", ".tsv", ".parquet", ".json", ".ndjson", ".txt", ".gz", ".zst", ".xlsx", ".duckdb", ".db", ".arrow"}


def sandbox(con: duckdb.DuckDBPyConnection, root: Path) -> None:
    """Close the connection to the outside: only the lake's data folder stays readable; settings are locked.
    These settings belong to the whole database instance, so ``con`` must be one of its own (see ``open_sandboxed``)."""
    data = str((Path(root).resolve() / store.DATA)) + "/"
    con.execute("SET allowed_directories = ?", [[data]])
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")


@contextlib.contextmanager
def open_sandboxed(root: Path, timeout_s: float = store.READ_RETRY_S):
    """A private in-memory DuckDB instance with the lake's catalog attached read-only, then sandboxed.

    Not ``duckdb.connect(lake.duckdb)``: DuckDB shares one instance per file within a process, and the sandbox's
    settings are per instance — they would leak into the app's other readers (and fail when already set)."""
    with store.connect(root):                      # re-points the bulk views if the lake folder moved
        pass
    catalog = str(store.catalog_path(Path(root).resolve()))
    con = duckdb.connect(":memory:")
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                con.execute("ATTACH ? AS lake (READ_ONLY)", [catalog])
                break
            except duckdb.IOException as exc:     # a writer is committing: wait as store.connect does
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        con.execute("USE lake")
        sandbox(con, root)
        yield con
    finally:
        con.close()


def run(root: Path, sql: str, *, row_cap: int = ROW_CAP, timeout_s: float = TIMEOUT_S) -> Result:
    """Check ``sql``, then run it on a sandboxed read-only connection; Refused carries every reason it did not run."""
    query = check(sql)
    started = time.perf_counter()
    with open_sandboxed(root) as con:              # read-only, closed again before this returns
        timer = threading.Timer(timeout_s, con.interrupt)
        timer.start()
        try:
            reader = con.sql(query).to_arrow_reader(min(row_cap + 1, 2048))
            batches, rows = [], 0
            for batch in reader:
                batches.append(batch)
                rows += batch.num_rows
                if rows > row_cap:
                    break
            table = pa.Table.from_batches(batches, schema=reader.schema)
        except duckdb.InterruptException:
            raise Refused(f"stopped after the {timeout_s:g} s time limit. Narrow the query (WHERE, LIMIT, fewer "
                          f"joins) and run it again.") from None
        except duckdb.PermissionException as exc:
            raise Refused(f"refused by the sandbox: {_one_line(exc)}. The console cannot touch files, settings "
                          f"or extensions; query the lake's tables and views.") from None
        except duckdb.Error as exc:
            raise Refused(f"DuckDB: {_one_line(exc)}") from None
        finally:
            timer.cancel()
    truncated = table.num_rows > row_cap
    return Result(table.slice(0, row_cap) if truncated else table, truncated, time.perf_counter() - started)


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:400]


def documentation() -> list[dict]:
    """Every table and view with its columns, units and descriptions (lake.schema), for the console's side panel."""
    from lake import schema
    return [{"name": t.name, "kind": t.kind, "description": t.description,
             "columns": [{"column": c.name, "type": c.type, "unit": c.unit, "description": c.description}
                         for c in t.columns]}
            for t in schema.ALL if t.name not in ("bulk_files", "lake_meta")]
