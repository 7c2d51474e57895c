"""`cathode init | ingest | tables | info | sql | template | formats`: the lake's own commands."""
from __future__ import annotations

import sys
from pathlib import Path

from app.cli import write_aligned, write_rows
from app.outcomes import outcome_line, summary_line, warning_lines
from lake.errors import InputError, UsageError


def add_commands(command) -> None:
    command("init", cmd_init)
    p = command("ingest", cmd_ingest)
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.add_argument("--cell-id", help="the cell every instrument file in this call belongs to")
    p.add_argument("--voxel-size-m", type=float, help="voxel edge of label volumes, metres")
    p.add_argument("--labels", help="label map of volumes, e.g. pore=0,ncm=85,binder=170")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p = command("tables", cmd_tables)
    p.add_argument("--describe", action="store_true", help="also every column with type, unit and description")
    command("info", cmd_info)
    p = command("sql", cmd_sql)
    p.add_argument("query", help="one SQL statement. The catalog is opened read-only; as in any DuckDB client the "
                   "query can read (and COPY to) files this user may access. The app's SQL console is the sandbox.")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table",
                   help="table (default), csv (text cells starting with = + - @ are quoted against spreadsheet "
                   "formulas) or json")
    p = command("template", cmd_template)
    p.add_argument("kind", choices=("cells", "cycles", "literature"))
    command("formats", cmd_formats)


def cmd_init(args) -> int:
    from lake import store
    root = store.init(args.lake)
    print(f"lake ready at {root} (version {store.lake_version(root)})")


def cmd_ingest(args) -> int:
    from ingest.pipeline import ingest
    from lake import store
    options = {}
    if args.voxel_size_m is not None:
        options["voxel_size_m"] = args.voxel_size_m
    if args.labels:
        options["labels"] = _label_map(args.labels)
    if not store.exists(args.lake):
        store.init(args.lake)
    outcomes = ingest(args.lake, args.paths, cell_id=args.cell_id, options=options,
                      progress=not args.no_progress and sys.stderr.isatty(),
                      on_wait=lambda msg: print(f"waiting: {msg}", file=sys.stderr))
    if not outcomes:
        raise InputError("no files to ingest.", file=", ".join(map(str, args.paths)),
                         expected="files, or folders holding files (hidden files are skipped)", found="none")
    for o in outcomes:
        if o.status == "rejected":
            print(f"error: {outcome_line(o)}", file=sys.stderr, flush=True)
        else:
            print(outcome_line(o), flush=True)          # in order with stderr's lines in a terminal or a log
        for line in warning_lines(o):
            print(line, file=sys.stderr, flush=True)
    print(summary_line(outcomes, store.lake_version(args.lake)))
    return 1 if any(o.status == "rejected" for o in outcomes) else 0


def _label_map(text: str) -> dict[str, int]:
    try:
        return {k.strip(): int(v) for k, v in (pair.split("=") for pair in text.split(","))}
    except ValueError:
        raise UsageError("bad --labels.", expected="name=value pairs like pore=0,ncm=85,binder=170",
                         found=text) from None


def cmd_tables(args) -> int:
    tables = _catalog_tables(args.lake)
    if not args.describe:
        write_aligned(sys.stdout, [[t["name"], t["kind"], f"{t['rows']} rows", t["comment"]] for t in tables])
        return
    for t in tables:
        print(f"{t['name']} ({t['kind']}, {t['rows']} rows): {t['comment']}")
        write_aligned(sys.stdout, [["   ", c["name"], c["type"], c["comment"] or ""] for c in t["columns"]])
        print()


def _catalog_tables(root: Path) -> list[dict]:
    from lake import store
    with store.connect(root) as con:
        objects = con.sql("""
            SELECT table_name AS name, 'table' AS kind, comment FROM duckdb_tables() WHERE NOT internal
            UNION ALL SELECT view_name, 'view', comment FROM duckdb_views() WHERE NOT internal AND NOT temporary
            ORDER BY 1""").fetchall()
        columns = con.sql("SELECT table_name, column_name, data_type, comment FROM duckdb_columns() "
                          "ORDER BY table_name, column_index").fetchall()
        result = []
        for name, kind, comment in objects:
            rows = con.sql(f'SELECT count(*) FROM "{name}"').fetchall()[0][0]
            result.append({"name": name, "kind": kind, "comment": comment or "", "rows": rows, "columns": [
                {"name": c, "type": t, "comment": m} for tn, c, t, m in columns if tn == name]})
    return result


INFO_TABLES = ("sources", "cells", "cycles", "timeseries", "eis_spectra", "microstructure", "literature", "models",
               "proposals")


def cmd_info(args) -> int:
    from lake import store
    root = Path(args.lake).resolve()
    counts = ", ".join(f"(SELECT count(*) FROM {name}) AS {name}" for name in INFO_TABLES)
    row = store.query(root, f"""SELECT {counts}, (SELECT count(*) FROM sources WHERE status = 'rejected') AS rejected,
        (SELECT coalesce(max(lake_version), 0) FROM commits) AS version""").to_pylist()[0]
    print(f"lake      {root}")
    print(f"version   {row['version']}")
    for name in INFO_TABLES:
        print(f"{name:<15} {row[name]:>10}")
    print(f"rejected files  {row['rejected']:>10}")
    commits = store.query(root, """SELECT lake_version, strftime(committed_at AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S')
        AS committed_at, command, summary FROM commits ORDER BY lake_version DESC LIMIT 5""").to_pylist()
    for c in commits:             # time formatted by DuckDB: a timestamp to Python would import pandas (0.4 s)
        print(f"  v{c['lake_version']:<4} {c['committed_at']} UTC {c['command']:<8} {c['summary']}")


def cmd_sql(args) -> int:
    from lake import store
    write_rows(store.query_one(args.lake, args.query), args.format, sys.stdout)


def cmd_template(args) -> int:
    from ingest.readers.templates import template_header
    print(template_header(args.kind))


def cmd_formats(args) -> int:
    from ingest.readers import formats
    write_aligned(sys.stdout, [[f.name, " ".join(f.suffixes), f.library, f.description] for f in formats()])
