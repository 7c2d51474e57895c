"""Which DuckDB functions the SQL console lets a query call: allow-lists, so a function a newer DuckDB adds is refused
until a person has looked at it (tests/app/test_console_rules.py enumerates every function DuckDB has).

Table functions: only generators over values and the catalog's own description are allowed; every other one is
refused with the reason of its family (reads files, runs hidden SQL, scans the host process's objects, changes
state, shows the machine). Scalar, aggregate and window functions and macros: those listed in
`console_functions.txt` (DuckDB's own at the pinned version, less `REFUSED_FUNCTIONS`).
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

ALLOWED_TABLE_FUNCTIONS = {
    **dict.fromkeys(("range", "generate_series", "unnest", "repeat", "repeat_row", "json_each", "json_tree"),
                    "generates rows from its arguments' values"),
    **dict.fromkeys(("duckdb_tables", "duckdb_columns", "duckdb_views", "duckdb_schemas", "duckdb_types",
                     "duckdb_functions", "duckdb_keywords", "duckdb_constraints", "duckdb_indexes",
                     "pragma_table_info", "pg_timezone_names", "icu_calendar_names"),
                    "describes the lake's tables or DuckDB's SQL"),
}
FAMILIES = (   # (does the name match, why the console refuses it); the first match wins
    (lambda n: n in ("query", "query_table", "json_execute_serialized_sql"),
     "it runs SQL hidden in a string, which the console cannot check. Write the query itself."),
    (lambda n: n.startswith(("read_", "parquet_", "sniff_", "iceberg_", "delta_", "st_"))
     or n in ("glob", "parquet_scan"),
     "it reads files, and the console cannot touch files outside the lake's tables. Query the tables and views "
     "instead (e.g. `FROM timeseries`)."),
    (lambda n: n.endswith("_scan") or n.startswith("python_") or n in ("arrow_scan_dumb",),
     "it scans objects of the process running the console, not the lake."),
    (lambda n: n in ("checkpoint", "force_checkpoint", "truncate_duckdb_logs") or n.startswith(
        ("enable_", "disable_", "register_", "create_", "destroy_", "deregister_", "add_", "remove_")),
     "it changes the database's state; the console only reads."),
    (lambda n: n.startswith(("duckdb_", "pragma_")) or n in ("which_secret", "test_all_types",
                                                              "test_vector_types", "summary"),
     "it shows the machine's or the process's internals (settings, memory, files, extensions), not the lake. "
     "For the schema see `DESCRIBE table` or duckdb_tables() / duckdb_columns()."),
)
DEFAULT_REASON = ("it is not among the table functions the console allows (generators such as range, "
                  "generate_series, unnest; the catalog's duckdb_tables, duckdb_columns, duckdb_views …).")
REFUSED_FUNCTIONS = {
    "current_setting": "it reads the connection's settings (folders, limits), not the lake",
    "getvariable": "it reads the connection's variables, not the lake",
    "nextval": "it advances a sequence, a change to the database",
    "currval": "it reads a sequence's state, not the lake",
    "setseed": "it changes the connection's random state",
    "write_log": "it writes to DuckDB's log",
    "pg_sleep": "it only waits, holding the console",
    "sleep_ms": "it only waits, holding the console",
}
FUNCTIONS_FILE = Path(__file__).with_name("console_functions.txt")


def table_function_refusal(name: str) -> str | None:
    """Why the console refuses the table function ``name``, or None when it is allowed."""
    name = name.lower()
    if name in ALLOWED_TABLE_FUNCTIONS:
        return None
    return next((why for matches, why in FAMILIES if matches(name)), DEFAULT_REASON)


@cache
def allowed_functions() -> frozenset[str]:
    lines = FUNCTIONS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("# "))


def function_refusal(name: str) -> str | None:
    """Why the console refuses the scalar, aggregate or window function (or macro) ``name``, or None."""
    if name.lower() in REFUSED_FUNCTIONS:
        return REFUSED_FUNCTIONS[name.lower()]
    if name in allowed_functions() or name.lower() in allowed_functions():     # DuckDB's names ignore case
        return None
    return "it is not among the functions the console allows (app/ui/console_functions.txt)"
