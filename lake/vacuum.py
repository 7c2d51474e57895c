"""`cathode vacuum`: remove files under `data/` that the catalog does not register.

An ingest killed between staging its Parquet files and committing leaves them behind (content-named, or still under
their `.tmp-…` name). They were never visible — the bulk views list only files registered in `bulk_files` — so
removing them changes no query. Vacuum holds the writer lock, so no live writer can be between staging and commit
while it looks: every unregistered file it sees belongs to a writer that died.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from lake import store


@dataclass
class VacuumReport:
    """What vacuum found (and, unless it was a dry run, removed)."""
    root: Path
    removed: list[str] = field(default_factory=list)      # paths relative to the lake root
    bytes_removed: int = 0
    kept: int = 0                                          # registered files left in place
    missing: list[str] = field(default_factory=list)      # registered but absent: reported, never "fixed"
    dry_run: bool = False


def orphans(root: Path) -> tuple[list[Path], int, list[str]]:
    """(unregistered files under data/, registered files present, registered files missing). No lock taken."""
    root = Path(root).resolve()
    with store.connect(root) as con:
        registered = {r[0] for r in con.execute("SELECT path FROM bulk_files").fetchall()}
    data = root / store.DATA
    present = {str(p.relative_to(root)): p for p in data.rglob("*") if p.is_file() or p.is_symlink()} \
        if data.is_dir() else {}
    stray = sorted(p for rel, p in present.items() if rel not in registered)
    missing = sorted(rel for rel in registered if rel not in present)
    return stray, len(present) - len(stray), missing


def vacuum(root: Path, *, dry_run: bool = False, on_wait=None,
           timeout_s: float | None = None) -> VacuumReport:
    """Remove every unregistered file under `data/` (and partition folders left empty), under the writer lock."""
    root = store._require(root)
    report = VacuumReport(root, dry_run=dry_run)
    lock_timeout = store.LOCK_TIMEOUT_S if timeout_s is None else timeout_s
    with store._lock(root, lock_timeout, on_wait):
        stray, report.kept, report.missing = orphans(root)
        for path in stray:
            report.removed.append(str(path.relative_to(root)))
            with contextlib.suppress(FileNotFoundError):
                report.bytes_removed += path.lstat().st_size
                if not dry_run:
                    path.unlink()
        if not dry_run and stray:
            _remove_empty_folders(root / store.DATA, {p.parent for p in stray})
    return report


def _remove_empty_folders(data: Path, folders: set[Path]) -> None:
    """Remove the given folders and their parents up to (not including) `data/` while they are empty."""
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        while folder != data and data in folder.parents:
            try:
                folder.rmdir()
            except OSError:          # not empty (or already gone): stop climbing
                break
            folder = folder.parent
