"""File -> rows -> lake: the one path every file takes, from `cathode ingest`, the demo and the app.

1. Collect files (folders recursively; sidecars such as `x.tiff.json` travel with their file). Only regular files
   are read: a FIFO, device or socket is refused from its stat, never opened.
2. Hash each file with its sidecars (its identity); content already in the lake is a duplicate and adds nothing.
3. Check the resource limits (ingest.limits) before anything allocates for the file, detect the format by content
   and read it (outside the writer lock: parsing is the slow part); what the reader returns is bounded too.
4. Under the writer lock, check each reading against the lake and this call (unknown cells, duplicate keys),
   then commit every accepted file in one transaction: a cells.csv and its cycles.csv land together.
A rejected file adds only its rejection record to `sources`; the lake's data and version are unchanged.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from importlib import metadata
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from ingest import limits
from ingest.placement import LakeState, place
from ingest.readers import Reading, detect
from lake import store
from lake.errors import CathodeLakeError, InputError



PARALLEL_BYTES = 16 * 2**20
# (sidecar ending, its file's ending): x.tiff.json beside x.tiff, x_Metadata.csv beside x.csv
SIDECARS = ((".json", ""), ("_Metadata.csv", ".csv"))


@dataclass
class Outcome:
    """What happened to one file: the per-file line `cathode ingest` prints."""
    path: Path
    status: str                          # ingested | duplicate | rejected
    format: str = ""
    cells: list[str] = field(default_factory=list)
    rows: int = 0
    reason: str = ""
    sha256: str = ""
    warnings: tuple[str, ...] = ()       # the reader's warnings (also stored in sources.warnings)


@dataclass
class _Parsed:
    path: Path
    sha256: str
    format: str
    library: str
    reading: Reading


def collect(paths: list[Path], lake_root: Path | None = None) -> list[Path]:
    """Files named, and files under folders named (recursively, sorted), minus hidden files, sidecars and the
    lake's own folder (a lake inside the folder being ingested is not data). A FIFO, device or socket in a folder
    is collected too, so that it is refused with its own line."""
    files: list[Path] = []
    skip = Path(lake_root).resolve() if lake_root else None
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if not p.is_dir()
                            and not any(part.startswith(".") for part in p.relative_to(path).parts)
                            and not (skip and p.resolve().is_relative_to(skip)))
        elif path.exists():
            files.append(path)
        else:
            raise InputError("no such file or folder.", file=str(path))
    names = {f.resolve() for f in files}
    return [f for f in dict.fromkeys(files) if not _is_sidecar(f, names)]


def _is_sidecar(path: Path, names: set[Path]) -> bool:
    """`x.tiff.json` beside `x.tiff`, or `x_Metadata.csv` beside `x.csv` (Arbin/TRI)."""
    for suffix, partner in SIDECARS:
        if path.name.endswith(suffix) and path.with_name(path.name[: -len(suffix)] + partner).resolve() in names:
            return True
    return False


def sidecars(path: Path) -> list[Path]:
    """The sidecar files beside ``path`` (regular files only), in SIDECARS order."""
    found = []
    for suffix, partner in SIDECARS:
        if path.name.endswith(partner):
            candidate = path.with_name(path.name[: len(path.name) - len(partner)] + suffix)
            if candidate != path and candidate.is_file():
                found.append(candidate)
    return found


def identity(path: Path) -> str:
    """sha256 of the file's bytes; with sidecars, sha256 over the file's and each sidecar's (a label volume whose
    voxel size changed is another volume)."""
    sha = store.sha256_file(path)
    extra = sidecars(path)
    if not extra:
        return sha
    digest = hashlib.sha256(sha.encode())
    for sidecar in extra:
        digest.update(f"\n{sidecar.name[len(path.stem):]}:{store.sha256_file(sidecar)}".encode())
    return digest.hexdigest()


def _refused(path: Path, exc: Exception) -> Outcome:
    """A path that is not a regular file: its identity is its place (it has no content to hash)."""
    return Outcome(path, "rejected", reason=str(exc),
                   sha256=hashlib.sha256(f"not a regular file: {path.absolute()}".encode()).hexdigest())


def ingest(root: Path, paths: list[Path], *, cell_id: str | None = None, options: dict | None = None,
           progress: bool = True, on_wait=None, command: str = "ingest", workers: int | None = None
           ) -> list[Outcome]:
    """Ingest files into the lake at ``root``; returns one Outcome per file, in the order given.

    Files are read by ``workers`` processes (default: every core once the folder holds more than
    PARALLEL_BYTES); the results do not depend on it.
    """
    limits.validate()
    files = collect(paths, root)
    known = set(store.query(root, "SELECT sha256 FROM sources WHERE status = 'ingested'")["sha256"].to_pylist())
    outcomes: dict[Path, Outcome] = {}
    todo: list[tuple[Path, str]] = []
    for path in files:
        try:
            limits.check_regular(path)
        except CathodeLakeError as exc:
            outcomes[path] = _refused(path, exc)
            continue
        sha = identity(path)
        if sha in known or sha in {s for _, s in todo}:
            outcomes[path] = Outcome(path, "duplicate", reason="same content already in the lake", sha256=sha)
        else:
            todo.append((path, sha))
    if workers is None:
        big = sum(p.stat().st_size for p, _ in todo) > PARALLEL_BYTES
        workers = (os.cpu_count() or 1) if big else 1
    parsed: list[_Parsed] = []
    bar = tqdm(total=len(todo), desc="reading", unit="file", delay=1.0, disable=not progress, leave=False)
    for (path, sha), result in zip(todo, _read_all([p for p, _ in todo], options or {}, workers, bar)):
        if isinstance(result, _Parsed):
            parsed.append(replace(result, sha256=sha))
            outcomes[path] = Outcome(path, "pending", result.format, sha256=sha,
                                     warnings=tuple(result.reading.warnings))
        else:
            fmt, reason = result
            outcomes[path] = Outcome(path, "rejected", fmt, reason=reason, sha256=sha)
    bar.close()
    if parsed:
        _commit(root, parsed, outcomes, cell_id, on_wait, command)
    rejected = [o for o in outcomes.values() if o.status == "rejected"]
    store.record_rejections(root, [_source_row(o, None, "") for o in rejected])
    return [outcomes[f] for f in files]


def _read_all(paths: list[Path], options: dict, workers: int, bar) -> list:
    """Read every file, in order; in a process pool when ``workers`` > 1 (parsing is the slow, parallel part)."""
    if workers <= 1 or len(paths) <= 1:
        results = []
        for path in paths:
            results.append(read_one(path, options))
            bar.update()
        return results
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("forkserver")) as pool:
        futures = [pool.submit(read_one, path, options) for path in paths]
        for _ in as_completed(futures):
            bar.update()
        return [f.result() for f in futures]


def read_one(path: Path, options: dict) -> "_Parsed | tuple[str, str]":
    """Detect and read one file: the parsed file, or (format, reason) when it is rejected."""
    fmt = None
    try:
        if path.stat().st_size == 0:
            raise InputError("the file is empty.", file=str(path))
        head = limits.check_container(path)       # before a sniffer opens a zip, a Parquet footer or a TIFF
        fmt = detect(path)
        for text in ([path] if not (fmt.binary or limits.is_container(head)) else []) + sidecars(path):
            limits.check_text(text)
        reading = fmt.read(path, **options)
        limits.check_tables(reading.tables, path)
        limits.check_meta(reading.meta, path)
        return _Parsed(path, "", fmt.name, fmt.library, reading)
    except CathodeLakeError as exc:
        return (fmt.name if fmt else "", str(exc))
    except Exception as exc:  # a reader's library failed on this file: report it, keep going
        return (fmt.name if fmt else "", str(InputError(f"could not be read ({type(exc).__name__}: {exc}).",
                                                        file=str(path))))


def _rejected(path: Path, sha: str, prior: Outcome | None, exc: Exception) -> Outcome:
    return Outcome(path, "rejected", prior.format if prior else "", reason=str(exc), sha256=sha)


def _commit(root, parsed: list[_Parsed], outcomes: dict[Path, Outcome], cell_id, on_wait, command) -> None:
    with store.writer(root, command, on_wait=on_wait) as w:
        landed = set(w.sql("SELECT sha256 FROM sources WHERE status = 'ingested'")["sha256"].to_pylist())
        state = LakeState.load(w)
        sources = []
        for item in sorted(parsed, key=_placing_order):
            outcome = outcomes[item.path]
            if item.sha256 in landed:           # another writer landed the same content while we were reading
                outcome.status, outcome.reason = "duplicate", "same content already in the lake"
                continue
            try:
                placed = place(item.path, item.sha256, item.reading, state, cell_id)
                for cell in placed.cells:           # also those named by --cell-id, a barcode or the file name
                    limits.MAX_ID_CHARS.check(len(cell), item.path, "a cell_id", column="cell_id")
            except CathodeLakeError as exc:
                outcomes[item.path] = _rejected(item.path, item.sha256, outcome, exc)
                continue
            outcome.status, outcome.cells, outcome.rows = "ingested", placed.cells, placed.rows
            placed.apply(w, state, item.sha256)
            sources.append(_source_row(outcome, item, json.dumps(item.reading.meta, sort_keys=True, default=str)))
        if sources:
            w.insert("sources", pa.Table.from_pylist(sources))
            done = [o for o in outcomes.values() if o.status == "ingested"]
            w.summary = f"{len(done)} files, {sum(o.rows for o in done)} rows"


def _placing_order(item: _Parsed) -> tuple:
    """Files declaring cells first, then cycles.csv; then instrument files in time order, so a continued test joins in order."""
    series = item.reading.tables.get("timeseries")
    start = None
    if series is not None and "unix_time_second" in series.column_names and series.num_rows:
        start = pc.min(series["unix_time_second"]).as_py()
    tables = item.reading.tables
    return ("cells" not in tables, "cycles" not in tables, start is None, start or 0.0, str(item.path))


def _source_row(outcome: Outcome, item: _Parsed | None, meta_json: str) -> dict:
    return {"sha256": outcome.sha256, "original_name": outcome.path.name,
            "original_path": str(outcome.path.resolve()), "size_bytes": _size(outcome.path),
            "format": outcome.format or None, "reader": f"ingest.readers:{outcome.format}" if outcome.format else None,
            "reader_version": _versions(item.library) if item else None, "status": outcome.status,
            "reason": outcome.reason or None, "rows": outcome.rows, "meta_json": meta_json or None,
            "warnings": "\n".join(outcome.warnings) or None,
            "ingested_at": dt.datetime.now(dt.timezone.utc)}


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:                     # a broken link
        return None


def _versions(library: str) -> str:
    own = _version("cathode-lake")
    lib = library.split()[0]
    return f"cathode-lake {own}; {lib} {_version(lib.removesuffix('.py'))}"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"
