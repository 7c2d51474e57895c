"""The lake side of a campaign: propose a batch, change a proposal's status, recommend the best measured recipe.

`propose` learns from every measured cell in the lake, finished or still cycling (a running cell through what its
first cycles say, optimizer/running.py), believes every open proposal (proposed or accepted, not yet answered),
chooses a batch, and records in ONE commit the surrogate models it used and the proposals (recipe, predicted mean
and 90 % interval per objective, acquisition value, study, trial, model ids, what the batch relied on, lake
version). The Optuna study gets one asked trial per proposal; results are told to it the next time
`propose` runs after their cells were ingested (a cells.csv row with `proposal_id` marks the proposal done).
If anything fails, the lake is unchanged and the asked trials are marked failed.
"""
from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from lake import recipe, store
from lake.errors import CathodeLakeError, InputError, UsageError
from lake.recipe import RECIPE
from models import registry
from models.early import cycles_frame
from models.features import cell_frame
from optimizer import study as studies
from optimizer.acquisition import MIN_OBSERVATIONS, fit_surrogates, recommend, suggest
from optimizer.objectives import Objective, label, parse, targets_of
from optimizer.running import Reliance, evidence_first, not_worth_running, running, sharpen
from optimizer.space import Space

TRANSITIONS = {"accepted": ("proposed",), "rejected": ("proposed", "accepted")}
# the lab's form: the cells.csv template, less the reference a lab does not fill for its own cells
OUT_COLUMNS = tuple(c for c in recipe.NAMES if c != "reference")


@dataclass
class Batch:
    rows: list[dict]
    notes: list[str]
    lake_version: int
    reliance: Reliance | None = None
    not_worth_running: list[tuple[str, float]] = field(default_factory=list)   # (cell_id, chance to beat the best)


def _frame(root: Path, objectives: list[Objective]) -> pl.DataFrame:
    cycles = tuple(o.n_cycles for o in objectives if o.n_cycles)
    return cell_frame(root, cycles)


def open_proposals(root: Path) -> list[dict]:
    return store.query(root, "SELECT * FROM proposals ORDER BY lake_version, proposal_id").to_pylist()


def propose(root: Path, n: int = 4, objective: str | None = None, space: Space | None = None, *,
            storage: str | None = None, study: str | None = None, replicates: int = 0, seed: int | None = None,
            out: Path | None = None, after_cycles: int = 0) -> Batch:
    """Propose ``n`` recipes and record them (see the module doc). ``out``: a cells.csv-shaped file to fill in.
    ``after_cycles``: the campaign's rule — refuse (nothing written) while a running cell has run fewer cycles."""
    if not isinstance(n, int) or n < 1:
        raise UsageError("the batch size must be a positive integer.", argument="--n", expected=">= 1", found=n)
    objectives, space = parse(objective), space or Space()
    root = Path(root).resolve()
    store.init(root)                              # idempotent: creates tables a lake made by an older version lacks
    frame = _frame(root, objectives)
    _check_after(frame, after_cycles)
    proposals = open_proposals(root)
    pending = [{c: p[c] for c in RECIPE} for p in proposals if p["status"] in ("proposed", "accepted")]
    rng = np.random.default_rng(seed)
    notes = []
    usable = _usable(frame)
    if usable.height < MIN_OBSERVATIONS:
        notes.append(f"the lake has {usable.height} cells with a recipe and cycles (fewer than "
                     f"{MIN_OBSERVATIONS}): a space-filling batch (Latin hypercube), no model predictions")
    surrogates, reliance, learnt = None, None, usable
    if usable.height >= MIN_OBSERVATIONS:
        previous, skipped = _previous(root, objectives)
        notes += skipped
        learnt, reliance = _learnt(root, usable, objectives, seed)
        notes.append(reliance.describe())
        surrogates = fit_surrogates(learnt, targets_of(objectives), previous=previous)
    chosen, surrogates = suggest(learnt, space, objectives, n, rng=rng, pending=pending, replicates=replicates,
                                 surrogates=surrogates)
    chosen = [replace(s, params=space.makeable(s.params)) if s.kind != "replicate" else s for s in chosen]
    stops = _ranked(usable, surrogates, objectives[:1], reliance)[1] if reliance and reliance.predicted else []
    if stops:
        notes.append("running cells unlikely to beat the best recipe (ending their tests frees their channels): "
                     + ", ".join(f"{c} ({p:.2f})" for c, p in stops))
    st = studies.open_study(studies.storage(root, storage), study or studies.study_name(objectives), objectives)
    synced = studies.sync(st, objectives, frame, proposals)
    if any(synced.values()):
        notes.append(f"study {st.study_name}: told {synced['told']} results, failed {synced['failed']} rejected "
                     f"proposals, added {synced['warm_start']} measured cells")
    trials = []
    try:
        with store.writer(root, "propose") as w:
            trained = [registry.Trained(s, registry.model_row(s, t, "gp", {"gp": s.cv_metrics_}, w.version - 1,
                                                              registry.input_importance(s, learnt)))
                       for t, s in surrogates.items()]
            model_ids = ",".join(t.row["model_id"] for t in trained)
            rows = []
            for i, s in enumerate(chosen, start=1):
                pid = f"P{w.version:04d}-{i:02d}"
                trials.append(studies.ask(st, s.params, {"proposal_id": pid, "kind": s.kind}))
                rows.append(_record(pid, st.study_name, trials[-1].number, s, objectives, model_ids or None,
                                    reliance))
            if trained:
                registry.register(root, trained, writer=w)
            w.insert("proposal_records", pa.Table.from_pylist(rows))
            w.summary = f"{len(rows)} proposals ({label(objectives)}), study {st.study_name}"
            tmp = _write_out(out, rows) if out else None
        if tmp:
            os.replace(tmp, out)
    except BaseException:
        studies.fail(st, trials)
        raise
    return Batch(rows, notes, w.version, reliance, stops)


def _usable(frame: pl.DataFrame) -> pl.DataFrame:
    """The cells a campaign learns from: a recipe (a blank optional value, e.g. a paper's densification, is
    imputed by the models, not a reason to drop the cell) and cycles."""
    return frame.filter(recipe.has_recipe() & pl.col("cycles_tested").is_not_null())


def _check_after(frame: pl.DataFrame, after_cycles: int) -> None:
    if not isinstance(after_cycles, int) or isinstance(after_cycles, bool) or after_cycles < 0:
        raise UsageError("the cycles to wait for must be a whole number.", argument="--after-cycles",
                         expected=">= 0", found=after_cycles)
    live = frame.filter(pl.Series(running(frame)) & (pl.col("cycles_tested") < after_cycles))
    if live.height:
        early = ", ".join(f"{c} ({t})" for c, t in zip(live["cell_id"][:5], live["cycles_tested"][:5]))
        raise InputError(f"{live.height} running cell(s) have run fewer cycles than the campaign waits for: "
                         f"{early}{' …' if live.height > 5 else ''}; propose again later, or lower --after-cycles.",
                         argument="--after-cycles", expected=f"every running cell at >= {after_cycles} cycles",
                         found=f"{int(live['cycles_tested'].min())} cycles")


def _ranked(usable, surrogates, objectives, reliance) -> tuple[list[dict], list[tuple[str, float]]]:
    """`recommend`'s rows, evidence first (optimizer/running.py), and the running cells whose first cycles say they
    will not beat the top one."""
    rows = evidence_first(recommend(usable, surrogates, objectives), usable, reliance)
    return rows, not_worth_running(usable, reliance, objectives[0], rows[0]["belief"]) if rows else []


def _learnt(root: Path, usable: pl.DataFrame, objectives: list[Objective], seed: int | None
            ) -> tuple[pl.DataFrame, Reliance]:
    """The cells as the models learn them: each running cell's censored values sharpened by what its first cycles
    say (optimizer/running.py), and what that relied on."""
    return sharpen(usable, cycles_frame(root), targets_of(objectives), seed=seed or 0)


def _previous(root: Path, objectives: list[Objective]) -> tuple[dict, list[str]]:
    """The last campaign's GP models per target: their hyperparameters warm-start this fit (fewer optimiser
    steps; the fit itself is on today's cells). One the checked loader refuses (an old pickle, a file outside the
    lake or changed since it was registered) is skipped, with a note saying why."""
    out, notes = {}, []
    for name in targets_of(objectives):
        row = registry.latest(root, name, estimator="gp")
        if row is None:
            continue
        try:
            model = registry.load(root, row)
            theta = np.asarray(model.latent_model.theta_, float)
        except (CathodeLakeError, AttributeError, TypeError, ValueError) as exc:
            notes.append(f"warm start skipped, fitting {name} from scratch: {exc}")
            continue
        if theta.ndim == 1 and np.isfinite(theta).all():
            out[name] = model
    return out, notes


def _record(pid: str, study_name: str, trial: int, s, objectives: list[Objective], model_ids,
            reliance: Reliance | None) -> dict:
    first = s.predictions.get(objectives[0].name, {})
    relied = {"finished_cells": reliance.finished, "running_cells": reliance.running,
              "early_life_trusted": reliance.trusted, "reliance_json": json.dumps(reliance.record())
              } if reliance else {}
    return {"proposal_id": pid, "study_name": study_name, "trial_number": trial, "kind": s.kind,
            **{c: s.params[c] for c in RECIPE}, "objective": label(objectives),
            "predicted_mean": first.get("mean"), "predicted_lo": first.get("lo"), "predicted_hi": first.get("hi"),
            "predictions_json": json.dumps(s.predictions) if s.predictions else None,
            "acquisition": s.acquisition, "model_id": model_ids, **relied,
            "created_at": dt.datetime.now(dt.timezone.utc)}


def _write_out(out: Path, rows: list[dict]) -> Path:
    """The lab's form: one cells.csv row per proposal (cell_id pre-filled with the proposal id)."""
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    data = [{**{c: None for c in OUT_COLUMNS}, "cell_id": r["proposal_id"], "proposal_id": r["proposal_id"],
             **{c: r[c] for c in RECIPE}} for r in rows]
    pl.DataFrame(data, schema={c: pl.Float64 if recipe.BY_NAME[c].number else pl.String for c in OUT_COLUMNS}
                 ).write_csv(tmp)
    return tmp


def set_status(root: Path, proposal_id: str, status: str, note: str | None = None) -> dict:
    """proposed -> accepted; proposed or accepted -> rejected (done comes from ingesting the answering cell)."""
    if status not in TRANSITIONS:
        raise InputError("unknown status change.", column="status", expected=" or ".join(TRANSITIONS),
                         found=status)
    with store.writer(root, "proposals") as w:
        rows = w.sql("SELECT proposal_id, status FROM proposals WHERE proposal_id = ?", [proposal_id]).to_pylist()
        if not rows:
            raise InputError("no such proposal.", expected="an id from `cathode proposals`",
                             found=proposal_id)
        current = rows[0]["status"]
        if current not in TRANSITIONS[status]:
            raise InputError(f"proposal {proposal_id} is {current}; it cannot become {status}.",
                             expected=f"a proposal that is {' or '.join(TRANSITIONS[status])}",
                             found=current)
        w.insert("proposal_events", pa.Table.from_pylist([{
            "proposal_id": proposal_id, "status": status, "note": note,
            "created_at": dt.datetime.now(dt.timezone.utc)}]))
        w.summary = f"proposal {proposal_id} {status}"
    return {"proposal_id": proposal_id, "status": status, "was": current}


def best(root: Path, objective: str | None = None, top: int = 1) -> tuple[list[dict], list[Objective]]:
    """The measured recipes the model believes best (posterior mean), with interval and replicate count; each row
    also carries what the models relied on (`reliance`) and the running cells not worth their channel against the
    top recipe (`not_worth_running`)."""
    objectives = parse(objective)
    frame = _frame(Path(root), objectives)
    usable = _usable(frame)
    if usable.height < MIN_OBSERVATIONS:
        raise InputError(f"too few measured cells to recommend: {usable.height} have a recipe and cycles; at "
                         f"least {MIN_OBSERVATIONS} are needed.", expected=f">= {MIN_OBSERVATIONS} cells",
                         found=usable.height)
    learnt, reliance = _learnt(Path(root), usable, objectives, 0)
    surrogates = fit_surrogates(learnt, targets_of(objectives))
    rows, stops = _ranked(usable, surrogates, objectives, reliance)   # measured values as measured, not sharpened
    return [{**row, "reliance": reliance, "not_worth_running": stops} for row in rows[:top]], objectives
