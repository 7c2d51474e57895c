"""`cathode [--lake DIR] COMMAND`: the one entry point. Commands parse, call a library function, print.

Library errors become one line on stderr and exit 1; usage errors exit 2; `--debug` shows the traceback.
"""
from __future__ import annotations

import argparse
import csv
import importlib
import json
import os
import pkgutil
import sys
from pathlib import Path

import app

from lake import store
from lake.errors import CathodeLakeError

USAGE_EXIT, ERROR_EXIT = 2, 1


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    args.lake = Path(args.lake).expanduser() if args.lake else store.default_root()
    try:
        return args.run(args) or 0
    except CathodeLakeError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return ERROR_EXIT
    except BrokenPipeError:              # `cathode sql … | head`: the reader left, which is fine
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("interrupted: nothing was committed by the unfinished step", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cathode", description="cathode-lake: a data lake and recipe optimizer "
                                     "for polymer all-solid-state cathodes.")
    parser.add_argument("--lake", metavar="DIR", help="lake folder (default: $CATHODE_LAKE, else "
                        "~/.local/share/cathode-lake)")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, run, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(run=run)
        return p

    command("init", cmd_init, "create an empty lake (idempotent)")
    p = command("ingest", cmd_ingest, "ingest files or folders (recursive) into the lake")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.add_argument("--cell-id", help="the cell every instrument file in this call belongs to")
    p.add_argument("--voxel-size-m", type=float, help="voxel edge of label volumes, metres")
    p.add_argument("--labels", help="label map of volumes, e.g. pore=0,ncm=85,binder=170")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p = command("tables", cmd_tables, "list the lake's tables and views")
    p.add_argument("--describe", action="store_true", help="also every column with type, unit and description")
    command("info", cmd_info, "lake folder, version, row counts and latest commits")
    p = command("sql", cmd_sql, "run one read-only SQL query against the lake")
    p.add_argument("query")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p = command("template", cmd_template, "print the header of a lab template CSV")
    p.add_argument("kind", choices=("cells", "cycles", "literature"))
    command("formats", cmd_formats, "list the file formats cathode-lake reads and the library behind each")
    p = command("demo", cmd_demo, "build the demo lake from the virtual lab, then start the app")
    p.add_argument("--no-app", action="store_true", help="stop after printing the summary")
    p.add_argument("--no-loop", action="store_true", help="do not train models and propose recipes")
    p.add_argument("--port", type=int, help="port of the app (default: Streamlit's, 8501)")
    p.add_argument("--cells", type=int, default=40, help="virtual-lab cells in the campaign (default 40)")
    p.add_argument("--seed", type=int, default=7, help="virtual-lab seed (default 7)")
    for module in pkgutil.iter_modules(app.__path__):       # app/commands_*.py add the later stages' commands
        if module.name.startswith("commands_"):
            importlib.import_module(f"app.{module.name}").add_commands(command)
    return parser


def cmd_init(args) -> int:
    root = store.init(args.lake)
    print(f"lake ready at {root} (version {store.lake_version(root)})")


def cmd_ingest(args) -> int:
    from ingest.pipeline import ingest
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
    for o in outcomes:
        cells = ",".join(o.cells[:3]) + (f",… ({len(o.cells)})" if len(o.cells) > 3 else "")
        line = f"{o.status:<9} {o.format or '-':<16} cell={cells or '-':<24} rows={o.rows:<8} {o.path}"
        print(line if o.status != "rejected" else f"{line}\n          {o.reason}")
    counts = {s: sum(o.status == s for o in outcomes) for s in ("ingested", "duplicate", "rejected")}
    print(f"{counts['ingested']} ingested, {counts['duplicate']} duplicate, {counts['rejected']} rejected; "
          f"lake version {store.lake_version(args.lake)}")
    return ERROR_EXIT if counts["rejected"] else 0


def _label_map(text: str) -> dict[str, int]:
    from lake.errors import InputError
    try:
        return {k.strip(): int(v) for k, v in (pair.split("=") for pair in text.split(","))}
    except ValueError:
        raise InputError("bad --labels.", expected="name=value pairs like pore=0,ncm=85,binder=170",
                         found=text) from None


def cmd_tables(args) -> int:
    for table in _catalog_tables(args.lake):
        print(f"{table['name']:<20} {table['kind']:<6} {table['rows']:>10} rows  {table['comment']}")
        if args.describe:
            for col in table["columns"]:
                print(f"    {col['name']:<28} {col['type']:<12} {col['comment'] or ''}")
            print()


def _catalog_tables(root: Path) -> list[dict]:
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


def cmd_info(args) -> int:
    root = Path(args.lake).resolve()
    tables = {t["name"]: t["rows"] for t in _catalog_tables(root)}
    print(f"lake      {root}")
    print(f"version   {store.lake_version(root)}")
    for name in ("sources", "cells", "cycles", "timeseries", "eis_spectra", "microstructure", "literature",
                 "models", "proposals"):
        print(f"{name:<15} {tables.get(name, 0):>10}")
    rejected = store.query(root, "SELECT count(*) AS n FROM sources WHERE status = 'rejected'")["n"][0].as_py()
    print(f"rejected files  {rejected:>10}")
    for row in store.query(root, "SELECT * FROM commits ORDER BY lake_version DESC LIMIT 5").to_pylist():
        print(f"  v{row['lake_version']:<4} {row['committed_at']:%Y-%m-%d %H:%M:%S} {row['command']:<8} "
              f"{row['summary']}")


def cmd_sql(args) -> int:
    result = store.query(args.lake, args.query)
    write_rows(result, args.format, sys.stdout)


def write_rows(table, fmt: str, out) -> None:
    """Print an Arrow table as an aligned text table, CSV or JSON (one array of objects)."""
    names, rows = table.column_names, table.to_pylist()
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(names)
        writer.writerows([[_text(r[n]) for n in names] for r in rows])
    elif fmt == "json":
        json.dump(rows, out, default=str, indent=1)
        out.write("\n")
    else:
        cells = [[_text(r[n]) for n in names] for r in rows]
        widths = [max([len(n)] + [len(row[i]) for row in cells]) for i, n in enumerate(names)]
        out.write("  ".join(n.ljust(w) for n, w in zip(names, widths)).rstrip() + "\n")
        out.write("  ".join("-" * w for w in widths) + "\n")
        for row in cells:
            out.write("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() + "\n")
        out.write(f"({len(rows)} rows)\n")


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def cmd_template(args) -> int:
    from ingest.readers.templates import template_header
    print(template_header(args.kind))


def cmd_formats(args) -> int:
    from ingest.readers import formats
    for fmt in formats():
        print(f"{fmt.name:<18} {' '.join(fmt.suffixes):<16} {fmt.library:<14} {fmt.description}")


def cmd_demo(args) -> int:
    from app.demo import build_demo, demo_loop, start_app
    summary = build_demo(args.lake, n_cells=args.cells, seed=args.seed,
                         progress=sys.stderr.isatty() and not os.environ.get("CI"))
    print(summary, flush=True)
    if not args.no_loop:
        print("training the surrogate models and proposing the next recipes ...", flush=True)
        print(demo_loop(args.lake, seed=args.seed) or "model and proposals already in the lake")
    if not args.no_app:
        return start_app(args.lake, port=args.port)


if __name__ == "__main__":
    sys.exit(main())
