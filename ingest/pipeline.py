"""File -> rows -> lake: the one path every file takes, from `cathode ingest`, the demo and the app.

1. Collect files (folders recursively; sidecars such as `x.tiff.json` travel with their file).
2. Hash each file; content already in the lake is a duplicate and adds nothing.
3. Detect the format by content and read the file (outside the writer lock: parsing is the slow part).
4. Under the writer lock, check each reading against the lake and this call (unknown cells, duplicate keys),
   then commit every accepted file in one transaction: a cells.csv and its cycles.csv land together.
A rejected file adds only its rejection record to `sources`; the lake's data and version are unchanged.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from ingest.readers import Reading, detect
from lake import schema, store
from lake.errors import CathodeLakeError, InputError

CELL_TABLES = ("cells",)                  # readings that declare cells are placed first


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


@dataclass
class _Parsed:
    path: Path
    sha256: str
    format: str
    library: str
    reading: Reading


def collect(paths: list[Path], lake_root: Path | None = None) -> list[Path]:
    """Files named, and files under folders named (recursively, sorted), minus hidden files, sidecars and the
    lake's own folder (a lake inside the folder being ingested is not data)."""
    files: list[Path] = []
    skip = Path(lake_root).resolve() if lake_root else None
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file()
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
    for suffix, partner in ((".json", ""), ("_Metadata.csv", ".csv")):
        if path.name.endswith(suffix) and path.with_name(path.name[: -len(suffix)] + partner).resolve() in names:
            return True
    return False


def ingest(root: Path, paths: list[Path], *, cell_id: str | None = None, options: dict | None = None,
           progress: bool = True, on_wait=None, command: str = "ingest") -> list[Outcome]:
    """Ingest files into the lake at ``root``; returns one Outcome per file, in the order given."""
    files = collect(paths, root)
    known = set(store.query(root, "SELECT sha256 FROM sources WHERE status = 'ingested'")["sha256"].to_pylist())
    outcomes: dict[Path, Outcome] = {}
    parsed: list[_Parsed] = []
    seen: set[str] = set()
    for path in tqdm(files, desc="reading", unit="file", delay=1.0, disable=not progress, leave=False):
        sha = store.sha256_file(path)
        if sha in known or sha in seen:
            outcomes[path] = Outcome(path, "duplicate", reason="same content already in the lake", sha256=sha)
            continue
        seen.add(sha)
        try:
            if path.stat().st_size == 0:
                raise InputError("the file is empty.", file=str(path))
            fmt = detect(path)
            outcomes[path] = Outcome(path, "pending", fmt.name, sha256=sha)
            parsed.append(_Parsed(path, sha, fmt.name, fmt.library, fmt.read(path, **(options or {}))))
        except CathodeLakeError as exc:
            outcomes[path] = _rejected(path, sha, outcomes.get(path), exc)
        except Exception as exc:  # a reader's library failed on this file: report it, keep going
            outcomes[path] = _rejected(path, sha, outcomes.get(path),
                                       InputError(f"could not be read ({type(exc).__name__}: {exc}).",
                                                  file=str(path)))
    if parsed:
        _commit(root, parsed, outcomes, cell_id, on_wait, command)
    rejected = [o for o in outcomes.values() if o.status == "rejected"]
    store.record_rejections(root, [_source_row(o, None, "") for o in rejected])
    return [outcomes[f] for f in files]


def _rejected(path: Path, sha: str, prior: Outcome | None, exc: Exception) -> Outcome:
    return Outcome(path, "rejected", prior.format if prior else "", reason=str(exc), sha256=sha)


def _commit(root, parsed: list[_Parsed], outcomes: dict[Path, Outcome], cell_id, on_wait, command) -> None:
    with store.writer(root, command, on_wait=on_wait) as w:
        landed = set(w.sql("SELECT sha256 FROM sources WHERE status = 'ingested'")["sha256"].to_pylist())
        state = _State(cells={r["cell_id"]: r["active_mass_mg"] for r in
                              w.sql("SELECT cell_id, active_mass_mg FROM cells").to_pylist()},
                       cycles=set(), w=w)
        sources = []
        for item in sorted(parsed, key=lambda p: not any(t in p.reading.tables for t in CELL_TABLES)):
            outcome = outcomes[item.path]
            if item.sha256 in landed:           # another writer landed the same content while we were reading
                outcome.status, outcome.reason = "duplicate", "same content already in the lake"
                continue
            try:
                placed = _place(item, state, cell_id)
            except CathodeLakeError as exc:
                outcomes[item.path] = _rejected(item.path, item.sha256, outcome, exc)
                continue
            outcome.status, outcome.cells, outcome.rows = "ingested", placed.cells, placed.rows
            placed.apply(w)
            state.cells.update(placed.new_cells)
            state.cycles.update(placed.new_cycles)
            sources.append(_source_row(outcome, item, json.dumps(item.reading.meta, sort_keys=True, default=str)))
        if sources:
            w.insert("sources", pa.Table.from_pylist(sources))
            done = [o for o in outcomes.values() if o.status == "ingested"]
            w.summary = f"{len(done)} files, {sum(o.rows for o in done)} rows"


@dataclass
class _State:
    cells: dict[str, float | None]        # cell_id -> active mass (mg), lake + this call
    cycles: set[tuple[str, int]]          # (cell_id, cycle_index) added in this call
    w: store.Writer


@dataclass
class _Placed:
    """Rows of one file ready to commit; built completely before anything is queued."""
    inserts: list[tuple[str, pa.Table]] = field(default_factory=list)
    bulk: list[tuple[str, pa.Table, str, str]] = field(default_factory=list)
    cells: list[str] = field(default_factory=list)
    new_cells: dict = field(default_factory=dict)
    new_cycles: set = field(default_factory=set)
    rows: int = 0

    def apply(self, w: store.Writer) -> None:
        for table, rows in self.inserts:
            w.insert(table, rows)
        for table, rows, sha, cell in self.bulk:
            w.stage_bulk(table, rows, sha, cell)


def _place(item: _Parsed, state: _State, cell_id: str | None) -> _Placed:
    placed, tables, name = _Placed(), item.reading.tables, str(item.path)
    if "cells" in tables:
        cells = tables["cells"]
        clash = [c for c in cells["cell_id"].to_pylist() if c in state.cells]
        if clash:
            raise InputError("cell is already in the lake; give the new cell another id.", file=name,
                             column="cell_id", expected="a new cell_id", found=clash[0])
        placed.inserts.append(("cells", _with_source(cells, item.sha256)))
        placed.new_cells = dict(zip(cells["cell_id"].to_pylist(),
                                    cells["active_mass_mg"].to_pylist() if "active_mass_mg" in cells.column_names
                                    else [None] * cells.num_rows))
        placed.cells = list(placed.new_cells)
        placed.rows += cells.num_rows
    if "cycles" in tables:
        cycles = _cycles(tables["cycles"], item, state)
        placed.inserts.append(("cycles", _with_source(cycles, item.sha256)))
        placed.new_cycles = set(zip(cycles["cell_id"].to_pylist(), cycles["cycle_index"].to_pylist()))
        placed.cells = sorted(set(cycles["cell_id"].to_pylist()))
        placed.rows += cycles.num_rows
    if "literature" in tables:
        lit = tables["literature"]
        placed.inserts.append(("literature", _with_source(lit, item.sha256)))
        placed.rows += lit.num_rows
    measured = [t for t in tables if t not in ("cells", "cycles", "literature")]
    if measured:
        cell = _cell_for(item, state, cell_id)
        placed.cells = [cell]
        for table in measured:
            rows = _with_source(_with_cell(tables[table], cell), item.sha256)
            placed.rows += rows.num_rows
            if table == "eis_points":
                placed.inserts.append(("eis_spectra", _eis_spectra(rows, item)))
                rows = _eis_points(rows, item.sha256)
            if schema.table(table).kind == "bulk":
                placed.bulk.append((table, _raw_names(table, rows), item.sha256, cell))
            else:
                placed.inserts.append((table, rows))
    return placed


def _cycles(cycles: pa.Table, item: _Parsed, state: _State) -> pa.Table:
    """Check cycles against known cells and cycles; fill mAh <-> mAh/g from the active mass; compute CE."""
    name, ids = str(item.path), cycles["cell_id"].to_pylist()
    unknown = [c for c in ids if c not in state.cells]
    if unknown:
        row = ids.index(unknown[0]) + 2
        raise InputError("unknown cell: not in this ingest's cells.csv nor in the lake.", file=name, row=row,
                         column="cell_id", expected="a cell_id from cells.csv", found=unknown[0])
    keys = list(zip(ids, cycles["cycle_index"].to_pylist()))
    taken = state.cycles | {(r["cell_id"], r["cycle_index"]) for r in state.w.sql(
        "SELECT cell_id, cycle_index FROM cycles WHERE cell_id IN (SELECT unnest(?))", [sorted(set(ids))]).to_pylist()}
    clash = [k for k in keys if k in taken]
    if clash:
        raise InputError("cycle already in the lake for this cell.", file=name, row=keys.index(clash[0]) + 2,
                         column="cycle_index", expected="new (cell_id, cycle_index)", found=clash[0][1])
    mass = pa.array([state.cells.get(c) for c in ids], pa.float64())
    for kind in ("discharge", "charge"):
        specific, absolute = f"{kind}_capacity_mah_g", f"{kind}_capacity_mah"
        g = cycles[specific] if specific in cycles.column_names else pa.nulls(len(ids), pa.float64())
        a = cycles[absolute] if absolute in cycles.column_names else pa.nulls(len(ids), pa.float64())
        g = pc.coalesce(g, pc.divide(pc.multiply(a, 1000.0), mass))
        a = pc.coalesce(a, pc.divide(pc.multiply(g, mass), 1000.0))
        cycles = _set(_set(cycles, specific, g), absolute, a)
    ce = pc.divide(cycles["discharge_capacity_mah_g"], cycles["charge_capacity_mah_g"])
    if "coulombic_efficiency_frac" in cycles.column_names:
        ce = pc.coalesce(cycles["coulombic_efficiency_frac"], ce)
    return _set(cycles, "coulombic_efficiency_frac", ce)


def _cell_for(item: _Parsed, state: _State, given: str | None) -> str:
    """--cell-id, else the instrument's barcode, else the file name up to its first dot, when that cell is known."""
    stem = item.path.name.split(".")[0]
    candidates = [c for c in (given, item.reading.meta.get("barcode"), stem) if c]
    for candidate in candidates:
        if candidate in state.cells:
            return candidate
    raise InputError("no cell for this file. Give --cell-id, ingest a cells.csv naming it in the same call, or name "
                     "the file <cell_id>.<ext>.", file=str(item.path), expected="a cell in the lake",
                     found=", ".join(dict.fromkeys(candidates)))


def _eis_spectra(points: pa.Table, item: _Parsed) -> pa.Table:
    index = points["spectrum_index"] if "spectrum_index" in points.column_names else pa.array([0] * len(points))
    counts = pc.value_counts(index).to_pylist()
    return pa.Table.from_pylist([{
        "spectrum_id": f"{item.sha256[:12]}-{c['values']}", "cell_id": points["cell_id"][0].as_py(),
        "source_sha256": item.sha256, "spectrum_index": c["values"], "n_points": c["counts"],
        "instrument": item.reading.meta.get("instrument")} for c in counts])


def _eis_points(points: pa.Table, sha: str) -> pa.Table:
    index = points["spectrum_index"] if "spectrum_index" in points.column_names else pa.array([0] * len(points))
    ids = pc.binary_join_element_wise(sha[:12], pc.cast(index, pa.string()), "-")
    return _set(points, "spectrum_id", ids)


def _raw_names(table: str, rows: pa.Table) -> pa.Table:
    declared = set(schema.table(table).names)
    return rows.rename_columns([n if n in declared or n.startswith("raw_") else f"raw_{n}"
                                for n in rows.column_names])


def _with_cell(rows: pa.Table, cell: str) -> pa.Table:
    return _set(rows, "cell_id", pa.array([cell] * rows.num_rows, pa.string()))


def _with_source(rows: pa.Table, sha: str) -> pa.Table:
    return _set(rows, "source_sha256", pa.array([sha] * rows.num_rows, pa.string()))


def _set(rows: pa.Table, name: str, values) -> pa.Table:
    if name in rows.column_names:
        return rows.set_column(rows.column_names.index(name), name, values)
    return rows.append_column(name, values)


def _source_row(outcome: Outcome, item: _Parsed | None, meta_json: str) -> dict:
    return {"sha256": outcome.sha256, "original_name": outcome.path.name,
            "original_path": str(outcome.path.resolve()), "size_bytes": outcome.path.stat().st_size,
            "format": outcome.format or None, "reader": f"ingest.readers:{outcome.format}" if outcome.format else None,
            "reader_version": _versions(item.library) if item else None, "status": outcome.status,
            "reason": outcome.reason or None, "rows": outcome.rows, "meta_json": meta_json or None,
            "ingested_at": dt.datetime.now(dt.timezone.utc)}


def _versions(library: str) -> str:
    own = _version("cathode-lake")
    lib = library.split()[0]
    return f"cathode-lake {own}; {lib} {_version(lib.removesuffix('.py'))}"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"
