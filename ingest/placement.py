"""Where one file's rows go: the rules that need the lake's state (checked under the writer lock).

- cells: a new cell_id, or one first seen in an instrument file and not yet given a recipe (the new record
  supersedes it). A cell that already has a recipe is never silently overwritten.
- cycles (cycles.csv): every cell known (this call or the lake), no (cell_id, cycle_index) twice.
- instrument files: the cell is --cell-id, else the instrument's barcode, else the file name up to its first dot;
  a cell not yet in the lake is created from the file's metadata (recipe to follow in a cells.csv).
- cycler time series also give per-cycle summaries in `cycles`, unless the lab reported that cell's cycles in a
  cycles.csv (the lab's summary is authoritative). A later file of the same cell (a continued test, starting after
  the earlier one ended) continues its cycle numbering.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest.cycle_summary import can_summarise, summarise_cycles
from ingest.readers import Reading
from lake import schema, store
from lake.errors import InputError

TEMPLATE_FORMATS = ("cycles_csv",)


@dataclass
class CellState:
    has_recipe: bool
    active_mass_mg: float | None = None
    template_cycles: bool = False        # the lab reported its cycles in a cycles.csv
    max_cycle: int = 0
    last_unix_s: float | None = None


@dataclass
class LakeState:
    """What the lake holds (read once under the lock), updated as each file of the call is placed."""
    w: store.Writer
    cells: dict[str, CellState]
    cycles: set[tuple[str, int]] = field(default_factory=set)

    @classmethod
    def load(cls, w: store.Writer) -> "LakeState":
        cells = {r["cell_id"]: CellState(r["process"] is not None, r["active_mass_mg"])
                 for r in w.sql("SELECT cell_id, process, active_mass_mg FROM cells").to_pylist()}
        for r in w.sql(f"""SELECT y.cell_id, max(y.cycle_index) AS max_cycle,
                                  bool_or(s.format IN {TEMPLATE_FORMATS!r}) AS template
                           FROM cycles y JOIN sources s ON s.sha256 = y.source_sha256 GROUP BY 1""").to_pylist():
            cells[r["cell_id"]].max_cycle, cells[r["cell_id"]].template_cycles = r["max_cycle"], r["template"]
        for r in w.sql("SELECT cell_id, max(unix_time_second) AS t FROM timeseries GROUP BY 1").to_pylist():
            if r["cell_id"] in cells:
                cells[r["cell_id"]].last_unix_s = r["t"]
        return cls(w, cells)


@dataclass
class Placed:
    """Rows of one file ready to commit; built completely before anything is queued, so a rejection adds nothing."""
    inserts: list[tuple[str, pa.Table]] = field(default_factory=list)
    bulk: list[tuple[str, pa.Table, str]] = field(default_factory=list)
    cells: list[str] = field(default_factory=list)
    rows: int = 0
    updates: dict[str, CellState] = field(default_factory=dict)
    new_cycles: set = field(default_factory=set)

    def apply(self, w: store.Writer, state: LakeState, sha: str) -> None:
        for table, rows in self.inserts:
            w.insert(table, rows)
        for table, rows, cell in self.bulk:
            w.stage_bulk(table, rows, sha, cell)
        state.cells.update(self.updates)
        state.cycles |= self.new_cycles


def place(path: Path, sha: str, reading: Reading, state: LakeState, given_cell: str | None) -> Placed:
    placed, tables = Placed(), reading.tables
    if "cells" in tables:
        _place_cells(placed, tables["cells"], path, sha, state)
    if "cycles" in tables:
        _place_cycles(placed, tables["cycles"], path, sha, state, template=True)
    if "literature" in tables:
        placed.inserts.append(("literature", with_column(tables["literature"], "source_sha256", sha)))
        placed.rows += tables["literature"].num_rows
    measured = [t for t in tables if t not in ("cells", "cycles", "literature")]
    if measured:
        cell = _cell_for(placed, path, sha, reading, state, given_cell)
        for table in measured:
            rows = with_column(with_column(tables[table], "cell_id", cell), "source_sha256", sha)
            placed.rows += rows.num_rows
            if table == "timeseries":
                _place_summary(placed, rows, cell, path, sha, state)
            if table == "spectra_points":
                rows = with_column(rows, "spectrum_id", f"{sha[:12]}-0")
            if table == "eis_points":
                placed.inserts.append(("eis_spectra", _eis_spectra(rows, sha, reading)))
                rows = _eis_points(rows, sha)
            if schema.table(table).kind == "bulk":
                placed.bulk.append((table, _raw_names(table, rows), cell))
            else:
                placed.inserts.append((table, _catalog_rows(table, rows)))
    return placed


def _place_cells(placed: Placed, cells: pa.Table, path: Path, sha: str, state: LakeState) -> None:
    ids = cells["cell_id"].to_pylist()
    clash = [c for c in ids if c in state.cells and state.cells[c].has_recipe]
    if clash:
        raise InputError("cell is already in the lake with a recipe; give the new cell another id.", file=str(path),
                         row=ids.index(clash[0]) + 2, column="cell_id", expected="a new cell_id", found=clash[0])
    _check_proposals(cells, path, state)
    placed.inserts.append(("cell_records", with_column(cells, "source_sha256", sha)))
    masses = cells["active_mass_mg"].to_pylist() if "active_mass_mg" in cells.column_names else [None] * len(ids)
    for cell, mass in zip(ids, masses):
        prior = state.cells.get(cell) or CellState(True)
        placed.updates[cell] = CellState(True, mass, prior.template_cycles, prior.max_cycle, prior.last_unix_s)
    placed.cells = ids
    placed.rows += len(ids)


def _check_proposals(cells: pa.Table, path: Path, state: LakeState) -> None:
    """A cells.csv row answering a proposal (`proposal_id`) must name one in the lake (issue 6)."""
    given = cells["proposal_id"].to_pylist() if "proposal_id" in cells.column_names else []
    wanted = sorted({p for p in given if p})
    if not wanted:
        return
    known = {r["proposal_id"] for r in state.w.sql(
        "SELECT proposal_id FROM proposal_records WHERE proposal_id IN (SELECT unnest(?))", [wanted]).to_pylist()}
    missing = [p for p in given if p and p not in known]
    if missing:
        raise InputError("unknown proposal: no proposal with this id in the lake.", file=str(path),
                         row=given.index(missing[0]) + 2, column="proposal_id",
                         expected="a proposal_id from `cathode proposals`", found=missing[0])


def _place_cycles(placed: Placed, cycles: pa.Table, path: Path, sha: str, state: LakeState, *,
                  template: bool) -> None:
    """Check cycles against known cells and cycles; fill mAh <-> mAh/g from the active mass; compute CE."""
    known = {**state.cells, **placed.updates}
    ids = cycles["cell_id"].to_pylist()
    unknown = [c for c in ids if c not in known]
    if unknown:
        raise InputError("unknown cell: not in this ingest's cells.csv nor in the lake.", file=str(path),
                         row=ids.index(unknown[0]) + 2, column="cell_id", expected="a cell_id from cells.csv",
                         found=unknown[0])
    keys = list(zip(ids, cycles["cycle_index"].to_pylist()))
    taken = state.cycles | {(r["cell_id"], r["cycle_index"]) for r in state.w.sql(
        "SELECT cell_id, cycle_index FROM cycles WHERE cell_id IN (SELECT unnest(?))", [sorted(set(ids))]).to_pylist()}
    clash = [k for k in keys if k in taken]
    if clash:
        raise InputError("cycle already in the lake for this cell.", file=str(path), row=keys.index(clash[0]) + 2,
                         column="cycle_index", expected="a new (cell_id, cycle_index)", found=clash[0][1])
    mass = pa.array([known[c].active_mass_mg for c in ids], pa.float64())
    for kind in ("discharge", "charge"):
        specific, absolute = f"{kind}_capacity_mah_g", f"{kind}_capacity_mah"
        g = cycles[specific] if specific in cycles.column_names else pa.nulls(len(ids), pa.float64())
        a = cycles[absolute] if absolute in cycles.column_names else pa.nulls(len(ids), pa.float64())
        g = pc.coalesce(g, pc.divide(pc.multiply(a, 1000.0), mass))
        cycles = with_column(with_column(cycles, specific, g), absolute,
                             pc.coalesce(a, pc.divide(pc.multiply(g, mass), 1000.0)))
    charge = cycles["charge_capacity_mah_g"]
    ce = pc.if_else(pc.greater(charge, 0), pc.divide(cycles["discharge_capacity_mah_g"], charge),
                    pa.scalar(None, pa.float64()))
    if "coulombic_efficiency_frac" in cycles.column_names:
        ce = pc.coalesce(cycles["coulombic_efficiency_frac"], ce)
    placed.inserts.append(("cycles", with_column(with_column(cycles, "coulombic_efficiency_frac", ce),
                                                 "source_sha256", sha)))
    placed.new_cycles |= set(keys)
    for cell in set(ids):
        s = placed.updates.get(cell) or known[cell]
        placed.updates[cell] = CellState(s.has_recipe, s.active_mass_mg, s.template_cycles or template,
                                         max([s.max_cycle] + [n for c, n in keys if c == cell]), s.last_unix_s)
    placed.cells = placed.cells or sorted(set(ids))
    placed.rows += cycles.num_rows


def _cell_for(placed: Placed, path: Path, sha: str, reading: Reading, state: LakeState, given: str | None) -> str:
    """--cell-id, else the instrument's barcode, else the file name up to its first dot; created when new."""
    known = {**state.cells, **placed.updates}
    barcode = reading.meta.get("barcode")
    candidates = [c for c in (given, barcode, path.name.split(".")[0]) if c]
    cell = given or next((c for c in candidates if c in known), candidates[0])
    placed.cells = [cell]
    if cell not in known:
        mass = reading.meta.get("active_mass_mg")
        placed.inserts.append(("cell_records", pa.Table.from_pylist([{
            "cell_id": cell, "active_mass_mg": mass, "source": f"instrument file {path.name}",
            "reference": "recipe not given yet", "source_sha256": sha}])))
        placed.updates[cell] = CellState(False, mass)
    return cell


def _place_summary(placed: Placed, rows: pa.Table, cell: str, path: Path, sha: str, state: LakeState) -> None:
    s = placed.updates.get(cell) or state.cells[cell]
    if s.template_cycles or not can_summarise(rows):
        return
    cycles = summarise_cycles(rows)
    if not cycles.num_rows:
        return
    start = pc.min(rows["unix_time_second"]).as_py() if "unix_time_second" in rows.column_names else None
    offset = 0
    if s.max_cycle:
        if start is not None and s.last_unix_s is not None and start < s.last_unix_s:
            raise InputError("this file overlaps in time an earlier file of the same cell, so its cycles cannot "
                             "continue that test.", file=str(path), column="unix_time_second",
                             expected=f"a start after {s.last_unix_s:.0f}", found=round(start))
        offset = s.max_cycle - pc.min(cycles["cycle_index"]).as_py() + 1
    cycles = with_column(cycles, "cycle_index", pc.add(cycles["cycle_index"], offset))
    cycles = with_column(cycles, "cell_id", cell)
    placed.updates[cell] = CellState(s.has_recipe, s.active_mass_mg, False, s.max_cycle, s.last_unix_s)
    _place_cycles(placed, cycles, path, sha, state, template=False)
    end = pc.max(rows["unix_time_second"]).as_py() if "unix_time_second" in rows.column_names else None
    placed.updates[cell].last_unix_s = end if end is not None else s.last_unix_s


def _eis_spectra(points: pa.Table, sha: str, reading: Reading) -> pa.Table:
    """One row per spectrum; voltage_v is the median cell voltage the instrument logged during it (EC-Lab <Ewe>)."""
    n = len(points)
    index = points["spectrum_index"].to_numpy() if "spectrum_index" in points.column_names else np.zeros(n, int)
    ewe = next((points[c].to_numpy() for c in ("raw_mean_ewe_v", "raw_ewe_v") if c in points.column_names), None)
    cell = points["cell_id"][0].as_py()
    return pa.Table.from_pylist([{
        "spectrum_id": f"{sha[:12]}-{i}", "cell_id": cell, "source_sha256": sha, "spectrum_index": int(i),
        "n_points": int(np.sum(index == i)), "instrument": reading.meta.get("instrument"),
        "voltage_v": float(np.median(ewe[index == i])) if ewe is not None else None}
        for i in np.unique(index)])


def _eis_points(points: pa.Table, sha: str) -> pa.Table:
    index = points["spectrum_index"] if "spectrum_index" in points.column_names else pa.array([0] * len(points))
    return with_column(points, "spectrum_id", pc.binary_join_element_wise(sha[:12], pc.cast(index, pa.string()), "-"))


def _raw_names(table: str, rows: pa.Table) -> pa.Table:
    declared = set(schema.table(table).names)
    return rows.rename_columns([n if n in declared or n.startswith("raw_") else f"raw_{n}"
                                for n in rows.column_names])


def _catalog_rows(table: str, rows: pa.Table) -> pa.Table:
    """Declared columns; any others packed into the table's extra_json (so nothing a reader found is lost)."""
    declared = schema.table(table).names
    extra = [n for n in rows.column_names if n not in declared]
    kept = rows.select([n for n in rows.column_names if n in declared])
    if extra and "extra_json" in declared:
        packed = [json.dumps(r, sort_keys=True, default=str) for r in rows.select(extra).to_pylist()]
        kept = with_column(kept, "extra_json", pa.array(packed, pa.string()))
    return kept


def with_column(rows: pa.Table, name: str, values) -> pa.Table:
    """``rows`` with column ``name`` set (a scalar is repeated on every row)."""
    if not isinstance(values, (pa.Array, pa.ChunkedArray)):
        values = pa.repeat(pa.scalar(values), rows.num_rows)      # (a Python list of n copies is 8× slower)
    if name in rows.column_names:
        return rows.set_column(rows.column_names.index(name), name, values)
    return rows.append_column(name, values)
