"""The SQL console's safety rules, as plain functions (no Streamlit): check a statement, then run it sandboxed.

Two layers, so one mistake is not enough:
1. **Before running**, DuckDB's own parser (``extract_statements``, ``json_serialize_sql``) checks the text, in at
   most ``MAX_QUERY_CHARS`` characters and ``CHECK_TIMEOUT_S`` seconds: exactly one statement; only a query
   (SELECT, WITH, FROM, VALUES, DESCRIBE, SHOW, SUMMARIZE, PIVOT or EXPLAIN); every table function and every other
   function it calls on the allow-lists of ``app.ui.console_rules`` (a function DuckDB adds later is refused until
   a person allows it); no file path used as a table. Each refusal says what was refused and why.
2. **While running**, the connection itself is read-only, has external access disabled (only the lake's own
   ``data/`` folder stays readable, for the bulk views; no temp folder, so nothing spills to disk), a memory limit
   and a thread count (``CATHODE_CONSOLE_MEMORY``, default 1GB; ``CATHODE_CONSOLE_THREADS``, default 2) and its
   configuration locked; a timer interrupts a query that runs past the timeout, and at most ``row_cap`` rows and
   ``MAX_RESULT_BYTES`` are fetched. Every failure, of the check or the run, is one Refused line. (DuckDB keeps
   its own attached catalog file readable whatever the settings: only layer 1 keeps a query from reading its raw
   bytes, which hold what the console can query anyway.)
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from app.ui import console_rules
from lake import store
from lake.export import csv_rows

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
MAX_QUERY_CHARS = 100_000          # a longer statement is refused before DuckDB parses it
CHECK_TIMEOUT_S = 5.0              # the check itself is bounded in time, as the query is
MAX_RESULT_BYTES = 256 * 2 ** 20   # the fetched rows, as Arrow
MEMORY_ENV, THREADS_ENV = "CATHODE_CONSOLE_MEMORY", "CATHODE_CONSOLE_THREADS"


class Refused(ValueError):
    """A statement the console will not run; the message explains why."""


@dataclass
class Result:
    table: pa.Table
    truncated: bool
    seconds: float


def check(sql: str) -> str:
    """The single statement in ``sql``, if the console may run it; otherwise raise Refused with the reason. Bounded:
    at most MAX_QUERY_CHARS characters and CHECK_TIMEOUT_S seconds; any failure of the check is a refusal."""
    text = (sql or "").strip()
    if not text:
        raise Refused("the query is empty: type one SELECT statement.")
    if len(text) > MAX_QUERY_CHARS:
        raise Refused(f"the query is {len(text):,} characters long; the console takes at most {MAX_QUERY_CHARS:,}. "
                      "A long IN (...) list is better a join or a WHERE on the lake's columns.")
    con = duckdb.connect(":memory:", config={"threads": 1, "memory_limit": "256MB"})
    timer = threading.Timer(CHECK_TIMEOUT_S, con.interrupt)
    timer.start()
    try:
        return _check(con, text)
    except Refused:
        raise
    except duckdb.InterruptException:
        raise Refused(f"checking the query took longer than {CHECK_TIMEOUT_S:g} s. Write it shorter.") from None
    except RecursionError:
        raise Refused("the query is nested too deeply to check (e.g. hundreds of chained terms like 1+1+…+1). "
                      "Write it with fewer nested terms, e.g. an aggregate over a list or range.") from None
    except Exception as exc:  # noqa: BLE001 — whatever goes wrong, the console answers with one refusal line
        raise Refused(f"the console could not check it ({type(exc).__name__}: {_one_line(exc)}).") from None
    finally:
        timer.cancel()
        con.close()


def _check(con: duckdb.DuckDBPyConnection, text: str) -> str:
    try:
        statements = con.extract_statements(text)
    except duckdb.InterruptException:
        raise
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


def _check_tree(con: duckdb.DuckDBPyConnection, query: str) -> None:
    """Walk the parsed query (DuckDB's JSON serialisation, iteratively) against the allow-lists of table and other
    functions (app.ui.console_rules) and for file paths used as tables. A query that cannot be serialised is
    refused: what cannot be checked does not run."""
    body = query
    if body.split(None, 1)[0].upper() == "EXPLAIN":       # EXPLAIN [ANALYZE] <query>: check the query inside
        rest = body.split(None, 1)[1] if len(body.split(None, 1)) > 1 else ""
        body = rest.split(None, 1)[1] if rest.upper().startswith("ANALYZE") and " " in rest else rest
    tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [body]).fetchone()[0])
    if tree.get("error"):
        raise Refused(f"the console cannot check this statement: {_one_line(tree.get('error_message', ''))}. "
                      "Write it as a plain SELECT.")
    table_calls = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        stack.extend(node.values())
        if node.get("type") == "TABLE_FUNCTION" and isinstance(node.get("function"), dict):
            call = node["function"]
            table_calls.add(id(call))
            name = str(call.get("function_name", ""))
            why = console_rules.table_function_refusal(name)
            if why:
                raise Refused(f"{name}() refused: {why}")
        elif "function_name" in node and id(node) not in table_calls:
            name = str(node["function_name"])
            why = console_rules.function_refusal(name)
            if why:
                raise Refused(f"{name}() refused: {why}.")
        if node.get("type") == "BASE_TABLE" and _looks_like_path(str(node.get("table_name", ""))):
            raise Refused(f"'{node['table_name']}' refused: a file path used as a table reads a file, and the "
                          f"console cannot touch files. Use the lake's tables and views.")


def _looks_like_path(name: str) -> bool:
    return any(ch in name for ch in "/\\*?:~") or Path(name).suffix.lower() in {
        ".csv", ".tsv", ".parquet", ".json", ".ndjson", ".txt", ".gz", ".zst", ".xlsx", ".duckdb", ".db", ".arrow"}


def limits() -> tuple[str, int]:
    """The console's memory limit (`CATHODE_CONSOLE_MEMORY`, default 1GB) and threads (`CATHODE_CONSOLE_THREADS`,
    default 2, at most the machine's cores)."""
    memory = os.environ.get(MEMORY_ENV, "1GB").strip().replace(" ", "")
    threads = os.environ.get(THREADS_ENV, "2").strip()
    if not re.fullmatch(r"\d+(\.\d+)?([KMGT]i?B)", memory, re.IGNORECASE):
        raise Refused(f"{MEMORY_ENV} must be a size such as 512MB or 2GB; found {memory!r}.")
    if not threads.isdigit() or int(threads) < 1:
        raise Refused(f"{THREADS_ENV} must be a whole number of threads >= 1; found {threads!r}.")
    return memory, min(int(threads), os.cpu_count() or 1)


def sandbox(con: duckdb.DuckDBPyConnection, root: Path) -> None:
    """Close the connection to the outside: only the lake's data folder stays readable (no temp folder: nothing
    spills to disk), memory and threads are limited, settings are locked.
    These settings belong to the whole database instance, so ``con`` must be one of its own (see ``open_sandboxed``)."""
    data = str((Path(root).resolve() / store.DATA)) + "/"
    memory, threads = limits()
    con.execute("SET temp_directory = ''")     # no spilling to disk, and no temp folder among the readable ones
    con.execute(f"SET memory_limit = '{memory}'")
    con.execute(f"SET threads = {threads}")
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
    try:
        table = _fetch(root, query, row_cap, timeout_s)
    except Refused:
        raise
    except Exception as exc:  # noqa: BLE001 — the console answers every failure with one line
        raise Refused(f"the console failed: {type(exc).__name__}: {_one_line(exc)}") from None
    truncated = table.num_rows > row_cap
    return Result(table.slice(0, row_cap) if truncated else table, truncated, time.perf_counter() - started)


def _fetch(root: Path, query: str, row_cap: int, timeout_s: float) -> pa.Table:
    with open_sandboxed(root) as con:              # read-only, closed again before this returns
        timer = threading.Timer(timeout_s, con.interrupt)
        timer.start()
        try:
            reader = con.sql(query).to_arrow_reader(min(row_cap + 1, 2048))
            batches, rows, size = [], 0, 0
            for batch in reader:
                batches.append(batch)
                rows, size = rows + batch.num_rows, size + batch.nbytes
                if size > MAX_RESULT_BYTES:
                    raise Refused(f"the result is over {MAX_RESULT_BYTES >> 20} MB after {rows:,} rows. Select "
                                  "fewer or shorter columns, or aggregate.")
                if rows > row_cap:
                    break
            return pa.Table.from_batches(batches, schema=reader.schema)
        except duckdb.InterruptException:
            raise Refused(f"stopped after the {timeout_s:g} s time limit. Narrow the query (WHERE, LIMIT, fewer "
                          f"joins) and run it again.") from None
        except duckdb.OutOfMemoryException:
            raise Refused(f"stopped at the console's memory limit ({limits()[0]}, {MEMORY_ENV}). Aggregate more, "
                          "or select fewer rows or shorter values.") from None
        except duckdb.PermissionException as exc:
            raise Refused(f"refused by the sandbox: {_one_line(exc)}. The console cannot touch files, settings "
                          f"or extensions; query the lake's tables and views.") from None
        except duckdb.Error as exc:
            raise Refused(f"DuckDB: {_one_line(exc)}") from None
        finally:
            timer.cancel()


def download_csv(table: pa.Table) -> str:
    """The result as the console's download: formula-safe CSV (lake.export), numbers at full precision."""
    return "".join(csv_rows(table.column_names, table.to_pylist()))


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:400]


def documentation() -> list[dict]:
    """Every table and view with its columns, units and descriptions (lake.schema), for the console's side panel."""
    from lake import schema
    return [{"name": t.name, "kind": t.kind, "description": t.description,
             "columns": [{"column": c.name, "type": c.type, "unit": c.unit, "description": c.description}
                         for c in t.columns]}
            for t in schema.ALL if t.name not in ("bulk_files", "lake_meta")]
