"""`cathode vacuum`: remove Parquet and temporary files under the lake's data/ that no commit registered."""
from __future__ import annotations

import sys


def add_commands(command) -> None:
    p = command("vacuum", cmd_vacuum)
    p.add_argument("--dry-run", action="store_true", help="only list what would be removed")


def cmd_vacuum(args) -> int:
    from lake.vacuum import vacuum
    report = vacuum(args.lake, dry_run=args.dry_run,
                    on_wait=lambda msg: print(f"waiting: {msg}", file=sys.stderr))
    verb = "would remove" if report.dry_run else "removed"
    for rel in report.removed:
        print(f"{verb}  {rel}")
    for rel in report.missing:
        print(f"missing  {rel}  (registered in bulk_files but not on disk: restore it from a backup)",
              file=sys.stderr)
    print(f"{verb} {len(report.removed)} orphaned file(s), {_size(report.bytes_removed)}; "
          f"{report.kept} registered file(s) kept")
    return 1 if report.missing else 0


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"
