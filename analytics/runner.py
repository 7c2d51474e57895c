"""Recompute the derived tables from the lake in one writer commit (`cathode derive`).

Each quantity module (cycling, dqdv, gitt, eis_fit, microstructure, spectroscopy) exposes ``QUANTITY``,
``METHOD_VERSION`` and ``plan(read, options) -> list[Unit]``: one Unit per cell, time-series file, spectrum or
volume, with a fingerprint of its inputs and a ``compute()`` that returns ``{history_table: rows}``.

Versioning (append-only): a unit whose latest run in ``derive_runs`` has the same method_version and fingerprint is
skipped; otherwise its complete result is appended to the ``*_history`` tables with one ``derive_runs`` row, and the
derived views (``gitt_pulses``, ``eis_results`` …) move to that run. Everything lands in one commit; a failure of a
unit (bad input: no pulses, too few points …) is reported and that unit is left as it was, unless ``strict``, where
the first failure raises and nothing is written.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

import pyarrow as pa

from lake import store
from lake.errors import CathodeLakeError, InputError, LakeError

QUANTITIES = ("cycling", "dqdv", "gitt", "eis", "microstructure", "spectroscopy")
_MODULES = {"cycling": "cycling", "dqdv": "dqdv", "gitt": "gitt", "eis": "eis_fit",
            "microstructure": "microstructure", "spectroscopy": "spectroscopy"}


@dataclass
class Unit:
    """One derivation: ``compute()`` returns rows per history table (without method_version/lake_version)."""
    unit_id: str
    fingerprint: str
    compute: Callable[[], dict[str, pa.Table]]
    note: str = ""


@dataclass
class Report:
    """What a derive run did, per quantity."""
    computed: dict[str, int] = field(default_factory=dict)      # quantity -> units recomputed
    unchanged: dict[str, int] = field(default_factory=dict)     # quantity -> units skipped (same method + inputs)
    rows: dict[str, int] = field(default_factory=dict)          # history table -> rows added
    failed: list[tuple[str, str, str]] = field(default_factory=list)   # (quantity, unit, reason)
    lake_version: int | None = None                              # the commit, None when nothing was written

    def lines(self) -> list[str]:
        out = []
        for q in self.computed:
            added = ", ".join(f"{t.removesuffix('_history')} +{n}" for t, n in self.rows.items()
                              if n and t in _module(q).TABLES) or "no rows"
            out.append(f"{q:<15} {self.computed[q]} computed, {self.unchanged.get(q, 0)} unchanged: {added}")
        out += [f"  skipped {q} {unit[:12]}: {reason}" for q, unit, reason in self.failed]
        out.append(f"lake version {self.lake_version}" if self.lake_version else "nothing new to write")
        return out


def _module(quantity: str):
    return importlib.import_module(f"analytics.{_MODULES[quantity]}")


def quantities(what) -> list[str]:
    """Normalise ``what`` (None = all; a name or list of names) and refuse unknown names."""
    names = _split(what)
    unknown = [n for n in names if n not in QUANTITIES]
    if unknown:
        raise InputError("unknown derived quantity.", column="--what", expected=", ".join(QUANTITIES),
                         found=unknown[0])
    return names


def _split(what) -> list[str]:
    if not what:
        return list(QUANTITIES)
    items = [what] if isinstance(what, str) else list(what)
    return [n.strip() for item in items for n in item.split(",") if n.strip()]


def derive_all(root, what=None, *, options: dict | None = None, force: bool = False, strict: bool = False,
               on_wait=None) -> Report:
    """Recompute the derived tables named in ``what`` (default: all) from the lake at ``root`` in one commit.

    options: particle_radius_m (GITT Eq. 1), thickness_um and area_cm2 (EIS Eq. 3; else from cells), early_cycles.
    force: recompute even units whose method and inputs are unchanged (appends a new run).
    strict: the first unit that fails raises (InputError) and nothing is written.
    """
    names = quantities(what)
    if not store.exists(root):
        raise LakeError(f"No lake at {root}: {store.CATALOG} is missing. Build one with `cathode ingest` or "
                        f"`cathode demo --no-app` first.")
    root = store.init(root)                          # creates derived tables missing from an older lake
    options = dict(options or {})
    report = Report()
    with store.writer(root, "derive", on_wait=on_wait) as w:
        latest = {(r["quantity"], r["unit_id"]): (r["method_version"], r["input_fingerprint"]) for r in w.sql(
            "SELECT quantity, unit_id, method_version, input_fingerprint FROM derive_runs QUALIFY row_number() "
            "OVER (PARTITION BY quantity, unit_id ORDER BY lake_version DESC) = 1").to_pylist()}
        runs = []
        for q in names:
            module = _module(q)
            report.computed[q], report.unchanged[q] = 0, 0
            for unit in module.plan(w.sql, options):
                if not force and latest.get((q, unit.unit_id)) == (module.METHOD_VERSION, unit.fingerprint):
                    report.unchanged[q] += 1
                    continue
                try:
                    tables = unit.compute()
                    if not any(t.num_rows for t in tables.values()):
                        raise InputError("the method found nothing to report.")
                except CathodeLakeError as exc:
                    if strict:
                        raise
                    report.failed.append((q, unit.unit_id, str(exc)))
                    continue
                n, notes = 0, [unit.note] if unit.note else []
                for table, rows in tables.items():
                    if rows.schema.metadata and b"note" in rows.schema.metadata:
                        notes.append(rows.schema.metadata[b"note"].decode())
                    rows = rows.append_column("method_version", pa.array([module.METHOD_VERSION] * rows.num_rows,
                                                                         pa.string()))
                    w.insert(table, store.conform(table, _with_version(rows, w.version)))
                    report.rows[table] = report.rows.get(table, 0) + rows.num_rows
                    n += rows.num_rows
                runs.append({"quantity": q, "unit_id": unit.unit_id, "method_version": module.METHOD_VERSION,
                             "input_fingerprint": unit.fingerprint, "n_rows": n, "note": "; ".join(notes) or None})
                report.computed[q] += 1
        if runs:
            w.insert("derive_runs", pa.Table.from_pylist(runs))
            w.summary = "derived " + ", ".join(f"{q} {n}" for q, n in report.computed.items() if n)
            report.lake_version = w.version
    return report


def _with_version(rows: pa.Table, version: int) -> pa.Table:
    return rows.append_column("lake_version", pa.array([version] * rows.num_rows, pa.int64()))
