"""What `cathode ingest` and the app's Ingest page report for each file, worded once for both."""
from __future__ import annotations

STATUSES = ("ingested", "duplicate", "rejected")


def outcome_line(o) -> str:
    """One file's line: status, format, cells, rows, path; a rejected file's reason on the next line."""
    cells = ",".join(o.cells[:3]) + (f",… ({len(o.cells)})" if len(o.cells) > 3 else "")
    line = f"{o.status:<9} {o.format or '-':<16} cell={cells or '-':<24} rows={o.rows:<8} {o.path}"
    return line if o.status != "rejected" else f"{line}\n       {o.reason}"


def warning_lines(o) -> list[str]:
    """The reader's warnings about one file (a timezone it had to assume, say)."""
    return [f"warning: {o.path}: {w}" for w in o.warnings]


def summary_line(outcomes, version: int) -> str:
    counts = {s: sum(o.status == s for o in outcomes) for s in STATUSES}
    return (f"{counts['ingested']} ingested, {counts['duplicate']} duplicate, {counts['rejected']} rejected; "
            f"lake version {version}")
