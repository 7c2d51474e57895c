"""The Optuna side of a campaign: storage, study, ask and tell.

The lake is the record of what was proposed and measured; the Optuna study mirrors it, trial by trial, so the usual
Optuna tools (dashboards, `trials_dataframe`) see the campaign, and so several workers can share one study:
default storage is an Optuna journal file inside the lake (`<lake>/optuna/journal.log`); `--storage
postgresql://…` (or any SQLAlchemy URL) puts it on a server for workers on several machines. Each proposal is an
asked trial (`enqueue_trial` + `ask`: the recipe the acquisition chose); a result is told when it arrives.
"""
from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import optuna
import polars as pl
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState

from lake.errors import InputError
from optimizer.objectives import Objective
from optimizer.space import NUMERIC
from lake.recipe import BOUNDS, PROCESSES, RECIPE

optuna.logging.set_verbosity(optuna.logging.WARNING)
JOURNAL = Path("optuna") / "journal.log"
DISTRIBUTIONS = {"process": CategoricalDistribution(PROCESSES),
                 **{n: FloatDistribution(float(lo), float(hi)) for n, (lo, hi) in BOUNDS.items()}}


def storage(root: Path | None, url: str | None = None):
    """An Optuna storage: ``url`` (postgresql://, mysql://, sqlite:///) or the journal file inside the lake."""
    if url:
        if not url.split(":", 1)[0].split("+")[0] in ("postgresql", "mysql", "sqlite"):
            raise InputError("unsupported --storage URL.", column="storage",
                             expected="postgresql://user@host/db (or mysql://, sqlite:///)", found=url)
        try:
            return optuna.storages.RDBStorage(url, heartbeat_interval=None)
        except Exception as exc:  # driver missing, server down, bad credentials: one line, next step
            raise InputError(f"cannot open the Optuna storage ({type(exc).__name__}: {str(exc).splitlines()[0]}). "
                             "For PostgreSQL install the extra: pip install 'cathode-lake[postgres]'.",
                             column="storage", found=url) from None
    path = Path(root) / JOURNAL
    path.parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))


def study_name(objectives: list[Objective]) -> str:
    return "cathode-" + "+".join(o.name.replace(":", "-") for o in objectives)


def open_study(store, name: str, objectives: list[Objective]) -> optuna.Study:
    study = optuna.create_study(study_name=name, storage=store, load_if_exists=True,
                                directions=["maximize"] * len(objectives))
    if len(study.directions) != len(objectives):
        raise InputError(f"study '{name}' has {len(study.directions)} objectives, this campaign "
                         f"{len(objectives)}. Give another --study name.", column="study", found=name)
    if study.metric_names is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([o.name for o in objectives])
    return study


def ask(study: optuna.Study, params: dict, attrs: dict) -> optuna.trial.Trial:
    """A running trial holding ``params`` (enqueued, then asked). Under concurrency another worker may pop this
    enqueued recipe and this call another's; either way every asked recipe is evaluated exactly once."""
    study.enqueue_trial({k: (v if k == "process" else float(v)) for k, v in params.items()}, user_attrs=attrs)
    return study.ask(DISTRIBUTIONS)


def values_of(objectives: list[Objective], frame: pl.DataFrame) -> list[float] | None:
    """Objective values of a result (mean over its cells); None when any is unknown."""
    vals = []
    for o in objectives:
        v, _ = o.observed(frame)
        v = v[np.isfinite(v)]
        if not v.size:
            return None
        vals.append(float(o.search_scale(np.array([v.mean()]))[0]))
    return vals


def tell(study: optuna.Study, trial, objectives: list[Objective], outcome: pl.DataFrame) -> None:
    """Tell one result: its values, and (when we hold the trial) the outcome row for study-only workers."""
    vals = values_of(objectives, outcome)
    if isinstance(trial, optuna.trial.Trial):
        trial.set_user_attr("outcome", json.dumps(outcome.to_dicts()[0], default=_json))
    if vals is None:
        study.tell(trial, state=TrialState.FAIL)
    else:
        study.tell(trial, vals)


def _json(v):
    return None if isinstance(v, float) and math.isnan(v) else str(v)


def completed_frame(study: optuna.Study) -> pl.DataFrame:
    """The outcomes workers told (trial user attribute `outcome`), as a cell frame."""
    rows = [json.loads(t.user_attrs["outcome"]) for t in study.get_trials(deepcopy=False,
                                                                        states=(TrialState.COMPLETE,))
            if "outcome" in t.user_attrs]
    return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()


def pending_recipes(study: optuna.Study) -> list[dict]:
    """Recipes asked and not yet told (running or waiting trials), e.g. by other workers."""
    out = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)):
        p = t.params or t.system_attrs.get("fixed_params", {})
        if all(k in p for k in RECIPE):
            out.append({k: p[k] for k in RECIPE})
    return out


def sync(study: optuna.Study, objectives: list[Objective], frame: pl.DataFrame, proposals: list[dict]) -> dict:
    """Bring the study up to the lake: tell results of done proposals, fail rejected ones, and add every other
    measured cell once as a completed trial (warm start). Returns counts."""
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    mirrored = {t.user_attrs.get("cell_id") for t in trials.values()}
    told = failed = added = 0
    linked = set()
    for p in proposals:
        if p["study_name"] != study.study_name or p["trial_number"] is None:
            continue
        cells = (p["result_cell_id"] or "").split(",") if p["result_cell_id"] else []
        linked.update(cells)
        t = trials.get(p["trial_number"])
        if t is None or t.state != TrialState.RUNNING:
            continue
        if p["status"] == "done":
            vals = values_of(objectives, frame.filter(pl.col("cell_id").is_in(cells)))
            if vals is not None:
                study.tell(t.number, vals)
                told += 1
        elif p["status"] == "rejected":
            study.tell(t.number, state=TrialState.FAIL)
            failed += 1
    new = []
    # a cell with a blank optional recipe value (a paper's densification) is learnt from by the models but not
    # mirrored here: an Optuna trial holds every parameter
    for row in frame.to_dicts():
        if row["cell_id"] in mirrored or row["cell_id"] in linked or any(row[k] is None for k in DISTRIBUTIONS):
            continue
        vals = values_of(objectives, pl.DataFrame([row], schema=frame.schema))
        params = {k: row[k] for k in DISTRIBUTIONS}
        if vals is None or not _inside(params):
            continue
        new.append(optuna.trial.create_trial(params=params, distributions=DISTRIBUTIONS, values=vals,
                                             user_attrs={"cell_id": row["cell_id"]}))
    if new:
        study.add_trials(new)
        added = len(new)
    return {"told": told, "failed": failed, "warm_start": added}


def _inside(params: dict) -> bool:
    return params["process"] in PROCESSES and all(
        BOUNDS[n][0] <= params[n] <= BOUNDS[n][1] for n in NUMERIC)


def fail(study: optuna.Study, trials: list) -> None:
    """Mark asked trials failed (their proposals never reached the lake)."""
    for t in trials:
        try:
            study.tell(t, state=TrialState.FAIL, skip_if_finished=True)
        except Exception:  # best effort while another error is being raised
            pass
