"""`cathode [--lake DIR] COMMAND`: the one entry point. Commands parse, call a library function, print.

Start-up stays light: the command table below names each command's module under `app/`, and only the module of the
command being run is imported (each imports its libraries inside its functions), so `cathode --help`, `template`
or `sql` never load scikit-learn, Optuna or Streamlit.

Exit codes: 0 success, 1 an error or a rejected file (one line on stderr), 2 a usage error; `--debug` shows the
traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from importlib import metadata
from pathlib import Path

from lake.errors import CathodeLakeError, UsageError

USAGE_EXIT, ERROR_EXIT = 2, 1

# name: (module under app/ that defines it, one-line summary shown by `cathode --help`)
COMMANDS = {
    "init": ("commands_lake", "create an empty lake (idempotent)"),
    "ingest": ("commands_lake", "ingest files or folders (recursive) into the lake"),
    "tables": ("commands_lake", "list the lake's tables and views"),
    "info": ("commands_lake", "lake folder, version, row counts and latest commits"),
    "sql": ("commands_lake", "run one SQL query on the lake (catalog read-only) and print the rows"),
    "template": ("commands_lake", "print the header of a lab template CSV"),
    "formats": ("commands_lake", "list the file formats cathode-lake reads and the library behind each"),
    "vacuum": ("commands_vacuum", "remove orphaned files under data/ (left by an ingest that was killed)"),
    "derive": ("commands_derive", "recompute derived tables from the lake in one commit (skips unchanged units)"),
    "train": ("commands_models", "train surrogate models on the lake's cells and register them"),
    "predict": ("commands_models", "predict cycle life (or another target) for recipes, or for cells under test"),
    "propose": ("commands_optimizer", "propose the next batch of cathode recipes and record them as proposals"),
    "proposals": ("commands_optimizer", "list proposals, or accept / reject one"),
    "best": ("commands_optimizer", "the measured recipe the model believes best, with its interval"),
    "virtual-lab": ("commands_optimizer", "make and cycle a proposals file's recipes in the demo's virtual lab"),
    "app": ("commands_app", "start the Streamlit app on the lake (Ctrl+C stops it)"),
    "demo": ("commands_app", "build the demo lake from the virtual lab, train, propose, then start the app"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = build_parser(argv).parse_args(argv)
    try:
        args.lake = lake_root(args.lake)
        return args.run(args) or 0
    except UsageError as exc:
        if args.debug:
            raise
        print(f"usage error: cathode {args.command}: {exc}", file=sys.stderr)
        return USAGE_EXIT
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
    except Exception as exc:            # a bug, not an input: still one line; --debug shows where
        if args.debug:
            raise
        print(f"error: internal error: {type(exc).__name__}: {' '.join(str(exc).split())[:500]} (nothing was "
              "committed by the unfinished step; run again with --debug for the traceback and report it)",
              file=sys.stderr)
        return ERROR_EXIT


def lake_root(given: str | None) -> Path:
    if given:
        return Path(given).expanduser()
    from lake.store import default_root
    return default_root()


def version() -> str:
    try:
        return metadata.version("cathode-lake")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    """The full parser for the command named in ``argv``; the other commands get only their summary line."""
    parser = argparse.ArgumentParser(prog="cathode", description="cathode-lake: a data lake and recipe optimizer "
                                     "for polymer all-solid-state cathodes. `cathode COMMAND --help` for a command.")
    parser.add_argument("--lake", metavar="DIR", help="lake folder (default: $CATHODE_LAKE, else "
                        "~/.local/share/cathode-lake)")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    parser.add_argument("--version", action="version", version=f"cathode-lake {version()}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND", dest="command")
    pre = argparse.ArgumentParser(add_help=False)            # skip the global options to find the command
    pre.add_argument("--lake")
    rest = pre.parse_known_args(argv)[1]
    chosen = next((a for a in rest if not a.startswith("-")), None)
    chosen = chosen if chosen in COMMANDS else None
    parsers = {name: sub.add_parser(name, help=summary.replace("%", "%%"), description=summary.replace("%", "%%"))
               for name, (_, summary) in COMMANDS.items()}
    if chosen:
        module = importlib.import_module(f"app.{COMMANDS[chosen][0]}")

        def command(name: str, run) -> argparse.ArgumentParser:
            # arguments of the module's other commands go to a throwaway parser: only `chosen` is parsed
            p = parsers[name] if name == chosen else argparse.ArgumentParser(add_help=False)
            p.set_defaults(run=run)
            return p
        module.add_commands(command)
    return parser


def write_rows(table, fmt: str, out) -> None:
    """Print an Arrow table as an aligned text table, CSV (formula-safe, see `lake.export`) or JSON."""
    import json

    from lake.export import csv_rows
    names, rows = table.column_names, table.to_pylist()
    if fmt == "csv":
        out.writelines(csv_rows(names, rows))
    elif fmt == "json":
        json.dump(rows, out, default=str, indent=1)
        out.write("\n")
    else:
        cells = [[_text(r[n]) for n in names] for r in rows]
        write_aligned(out, [names, ["-" * len(n) for n in names], *cells], dashes=True)
        out.write(f"({len(rows)} rows)\n")


def write_aligned(out, lines: list[list[str]], *, dashes: bool = False) -> None:
    """Columns padded to their widest cell (the last column unpadded): long names never break the alignment."""
    if not lines:
        return
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    for k, line in enumerate(lines):
        if dashes and k == 1:
            line = ["-" * w for w in widths]
        out.write("  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip() + "\n")


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
