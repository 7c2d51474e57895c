"""Train surrogate models from the lake, store them with their provenance, load them back, predict.

A model is a row of `models` (target, estimator, features, CV metrics and interval coverage, library versions,
the lake version it saw, training cells, the model file's path and sha256) plus the fitted estimator as a skops file
under `<lake>/artifacts/models/` (models.artifacts: no pickle, nothing runs when it is opened). The file is written,
fsynced and renamed before the one commit that registers it; if the commit fails the file is removed, so an
unregistered file is never loaded.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import platform
import uuid
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from lake import recipe, store
from lake.errors import InputError, UsageError
from lake.recipe import MICROSTRUCTURE, RECIPE, RECIPE_REQUIRED
from models import artifacts
from models.defaults import DEFAULT_TARGETS
from models.early import DEFAULT_N, cycles_frame, early_features, eligible
from models.early import estimator as early_estimator
from models.features import MIN_CELLS, Target, cell_frame, from_model_scale, target, target_values
from models.surrogate import KINDS, Surrogate, select, upper_quantile

ARTIFACTS = artifacts.FOLDER
LIBRARIES = ("cathode-lake", "numpy", "scipy", "scikit-learn", "polars", "duckdb", "optuna")


@dataclass
class Trained:
    """One fitted model ready to register: the estimator and its `models` row."""
    model: Surrogate
    row: dict


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def fit_target(frame: pl.DataFrame, name: str, *, kinds=KINDS, physics: bool = True,
               version: int = 0) -> Trained:
    """Select and fit the best estimator for one target on a cell frame (recipe rows with a `batch` column)."""
    tgt = target(name)
    total = frame.height
    complete = _complete_recipes(frame)
    y, cens, usable = target_values(complete, tgt)
    n = int(usable.sum())
    if n < MIN_CELLS:
        lacking = total - complete.height
        why = ""
        if lacking:
            blank = [c for c in RECIPE_REQUIRED if frame[c].null_count()]
            why = f" ({lacking} lack a recipe value: {', '.join(blank)})"
        raise InputError(f"too few cells to train '{name}': {n} of {total} cells have it{why}; at least "
                         f"{MIN_CELLS} are needed.", expected=f">= {MIN_CELLS} cells", found=n)
    frame = complete
    groups = frame["batch"].to_numpy() if "batch" in frame.columns else None
    model, by_kind = select(frame, tgt, groups, kinds=kinds, physics=physics)
    return Trained(model, model_row(model, name, model.kind, by_kind, version, input_importance(model, frame)))


def input_importance(model: Surrogate, frame: pl.DataFrame, seed: int = 0) -> dict[str, float]:
    """Permutation importance of each input column (recipe, microstructure, early-cycle features): how far the model's predicted mean (model
    scale, root mean square) moves when that column is shuffled across the training cells; shares summing to 1.
    Model-agnostic (it uses only ``predict``), so GP and boosted trees are compared alike."""
    rng = np.random.default_rng(seed)
    base = model.predict(frame)["mean"]
    moved = {}
    inputs = RECIPE + MICROSTRUCTURE + tuple(model.extra_features)
    for column in (c for c in inputs if c in frame.columns and frame[c].n_unique() > 1):
        shuffled = frame.with_columns(frame[column].gather(rng.permutation(frame.height)))
        moved[column] = float(np.sqrt(np.mean((model.predict(shuffled)["mean"] - base) ** 2)))
    total = sum(moved.values()) or 1.0
    return {k: v / total for k, v in sorted(moved.items(), key=lambda kv: -kv[1])}


def fit_early(frame: pl.DataFrame, cycles: pl.DataFrame, n_cycles: int = DEFAULT_N, *,
              version: int = 0) -> Trained:
    """The early-life model: log10 cycles-to-80 % from the recipe plus the first ``n_cycles`` cycles."""
    tgt = target("cycles_to_80")
    frame = _complete_recipes(frame).join(early_features(cycles, n_cycles), on="cell_id", how="inner")
    frame = frame.filter(eligible(frame, n_cycles))
    if frame.height < MIN_CELLS:
        raise InputError(f"too few cells for the early-life model: {frame.height} cells reached cycle "
                         f"{n_cycles} above 80 % retention; at least {MIN_CELLS} are needed.",
                         expected=f">= {MIN_CELLS} cells", found=frame.height)
    groups = frame["batch"].to_numpy() if "batch" in frame.columns else None
    model = early_estimator().fit(frame, tgt, groups)
    model.early_cycles_ = n_cycles
    row = model_row(model, "cycles_to_80", "early_life", {"gp": model.cv_metrics_}, version,
               input_importance(model, frame))
    row["metrics_json"] = json.dumps({**json.loads(row["metrics_json"]), "early_cycles": n_cycles})
    return Trained(model, row)


def _complete_recipes(frame: pl.DataFrame) -> pl.DataFrame:
    """Cells with every required recipe value; a blank optional one (a literature cell's densification) is imputed
    by the model's features, so such a cell is still learnt from."""
    return frame.filter(recipe.has_recipe())


def model_row(model: Surrogate, name: str, estimator: str, by_kind: dict, version: int,
              importance: dict | None = None) -> dict:
    """The `models` row of a fitted surrogate: target, estimator, features, CV metrics with out-of-fold predictions,
    input importance, library versions, the lake version it saw."""
    metrics = {"selected": estimator, "cv_scheme": model.cv_scheme_, "scale": _scale(model.target_),
               "by_estimator": by_kind, **model.cv_metrics_, "cv_predictions": _oof(model),
               "feature_importance": importance or {}}
    return {"model_id": f"{name}-{estimator}-v{version}-{uuid.uuid4().hex[:6]}", "target": name,
            "estimator": estimator, "features_json": json.dumps(model.feature_names_),
            "metrics_json": json.dumps(metrics), "library_versions_json": json.dumps(library_versions()),
            "trained_on_version": version, "n_cells": model.n_cells_,
            "created_at": dt.datetime.now(dt.timezone.utc)}


def _oof(model: Surrogate, level: float = 0.9) -> list[dict]:
    """Each training cell's out-of-fold prediction and conformal interval (mean ± the ``level`` quantile of the
    normalised scores × its sd) in the target's unit, for the app's parity plot; a censored cell's y_true is its
    lower bound (an upper bound for retention)."""
    oof, tgt = model.oof_, model.target_
    q = float(upper_quantile(model.scores_, level))          # the same conformal quantile as Surrogate.predict
    conv = (lambda v: [float(x) for x in from_model_scale(tgt, np.asarray(v, float))])
    lo, hi = conv(oof["mean"] - q * oof["sd"]), conv(oof["mean"] + q * oof["sd"])
    if tgt.retention_cycle:                      # a larger loss is a smaller retention: swap the bounds
        lo, hi = hi, lo
    return [{"y_true": t, "y_pred": m, "y_lo": a, "y_hi": b, "censored": bool(c)}
            for t, m, a, b, c in zip(conv(oof["y"]), conv(oof["mean"]), lo, hi, oof["censored"])]


def _scale(tgt: Target) -> str:
    return "log10(1 - retention)" if tgt.retention_cycle else "log10"


# ---------------------------------------------------------------- the lake side

def train(root: Path, targets=DEFAULT_TARGETS, *, early_cycles: int | None = DEFAULT_N, kinds=KINDS,
          physics: bool = True, force: bool = False) -> list[dict]:
    """Train one model per target (and the early-life model) on the lake and register them in one commit.

    Training is deterministic, so when the cells and cycles it reads are those of models already trained with the
    same options, those rows come back with ``unchanged`` set and nothing is written (``force`` trains anew)."""
    targets = list(dict.fromkeys(targets))
    tgts = [target(t) for t in targets]
    version = store.lake_version(root)
    frame = cell_frame(root, tuple(t.retention_cycle for t in tgts if t.retention_cycle))
    if frame.height == 0:
        raise InputError("the lake has no cells to train on. Ingest a cells.csv and its cycles.csv first.",
                         expected=f">= {MIN_CELLS} cells", found=0)
    early = bool(early_cycles) and "cycles_to_80" in targets
    cycles = cycles_frame(root) if early else None
    options = {"kinds": sorted(kinds), "physics": bool(physics), "early_cycles": early_cycles or 0,
               "data_sha256": data_digest(frame, cycles)}
    wanted = [(t, "") for t in targets] + ([("cycles_to_80", "early_life")] if early else [])
    kept = [] if force else unchanged_models(root, options, wanted)
    if kept:
        return [{**row, "unchanged": True} for row in kept]
    trained = [fit_target(frame, t, kinds=kinds, physics=physics, version=version) for t in targets]
    notes = []
    if early:
        try:
            trained.append(fit_early(frame, cycles, early_cycles, version=version))
        except InputError as exc:
            notes.append(f"early-life model skipped: {exc}")
    for t in trained:
        t.row["metrics_json"] = json.dumps({**json.loads(t.row["metrics_json"]), "training_options": options})
    rows = register(root, trained, command="train")
    for note in notes:
        rows[-1].setdefault("notes", []).append(note)
    return rows


def data_digest(*frames: pl.DataFrame | None) -> str:
    """sha256 of the training data as Arrow IPC (rows in a fixed order): equal data, equal digest."""
    digest = hashlib.sha256()
    for frame in frames:
        if frame is not None:
            digest.update(_ipc(frame.sort(frame.columns, nulls_last=True)))
    return digest.hexdigest()


def _ipc(frame: pl.DataFrame) -> bytes:
    sink = io.BytesIO()
    frame.write_ipc(sink, compression="uncompressed")
    return sink.getvalue()


def unchanged_models(root: Path, options: dict, wanted: list[tuple[str, str]]) -> list[dict]:
    """The newest model per (target, early-life or not) trained with ``options`` (data digest included); [] unless
    every wanted one exists."""
    rows = store.query(root, "SELECT * FROM models ORDER BY created_at DESC").to_pylist()
    found = {}
    for row in rows:
        if json.loads(row["metrics_json"]).get("training_options") != options or not row.get("artifact_sha256"):
            continue                         # other options, or an old pickle that is no longer loaded
        found.setdefault((row["target"], "early_life" if row["estimator"] == "early_life" else ""), row)
    return [found[w] for w in wanted] if all(w in found for w in wanted) else []


def register(root: Path, trained: list[Trained], *, command: str = "train", writer=None) -> list[dict]:
    """Write each artifact, then register every model in one commit (or in ``writer``'s commit when given)."""
    root = Path(root).resolve()
    written: list[Path] = []
    try:
        if writer is None:
            with store.writer(root, command) as w:
                _queue(root, w, trained, written)
                w.summary = f"{len(trained)} models: " + ", ".join(t.row["model_id"] for t in trained)
        else:
            _queue(root, writer, trained, written)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return [dict(t.row) for t in trained]


def _queue(root: Path, w, trained: list[Trained], written: list[Path]) -> None:
    for t in trained:
        path = root / ARTIFACTS / f"{t.row['model_id']}{artifacts.SUFFIX}"
        t.row["artifact_sha256"] = artifacts.save(t.model, path)
        written.append(path)
        t.row["artifact_path"] = str(path.relative_to(root))
    w.insert("models", pa.Table.from_pylist([t.row for t in trained]))


def latest(root: Path, target_name: str, estimator: str | None = None) -> dict | None:
    """The newest registered model row for a target (the early-life model only when asked for)."""
    cond = "estimator = ?" if estimator else "estimator <> 'early_life'"
    params = [target_name] + ([estimator] if estimator else [])
    rows = store.query(root, f"SELECT * FROM models WHERE target = ? AND {cond} "
                             "ORDER BY trained_on_version DESC, created_at DESC LIMIT 1", params).to_pylist()
    return rows[0] if rows else None


def load(root: Path, row: dict) -> Surrogate:
    """The fitted model of a `models` row, through the one checked loader (models.artifacts.load)."""
    return artifacts.load(root, row)


def predict_frame(model: Surrogate, frame: pl.DataFrame, level: float = 0.9) -> pl.DataFrame:
    """``frame`` plus `<target>_pred`, `_lo`, `_hi` (the target's unit), for cycles-to-X `p_short` (the probability
    that the cell shorts before it fades there), `extrapolation`, `microstructure_imputed`, `recipe_imputed` (a
    blank optional recipe value, e.g. densification, was imputed)."""
    if not 0 < level < 1:
        raise UsageError("the interval level must be between 0 and 1.", argument="--level", expected="e.g. 0.9",
                         found=level)
    name, tgt = model.target_.name, model.target_
    numeric = frame.with_columns([pl.col(c).cast(pl.Float64, strict=False) for c in RECIPE[1:]
                                  if c in frame.columns])
    out = model.predict(numeric, level)
    _, recipe_imputed = model.complete(numeric)
    pred, lo, hi = (from_model_scale(tgt, out[k]) for k in ("mean", "lo", "hi"))
    if tgt.retention_cycle:                      # a larger loss is a smaller retention: swap the bounds
        lo, hi = hi, lo
    shorts = [pl.Series("p_short", out["p_short"])] if "p_short" in out and tgt.name.startswith("cycles_to_") else []
    return frame.with_columns(pl.Series(f"{name}_pred", pred), pl.Series(f"{name}_lo", lo),
                              pl.Series(f"{name}_hi", hi), *shorts, pl.Series("extrapolation", out["extrapolation"]),
                              pl.Series("microstructure_imputed", out["imputed"]),
                              pl.Series("recipe_imputed", recipe_imputed))


def read_recipes(path: Path) -> pl.DataFrame:
    """A cells.csv-shaped file of recipes: the required recipe columns present and filled (optional ones such as
    densification_frac may be absent or blank; the model imputes them), numbers within their ranges."""
    return recipe.read(path, required=RECIPE_REQUIRED)


def predict(root: Path, path: Path, target_name: str = "cycles_to_80", level: float = 0.9,
            model_id: str | None = None) -> tuple[pl.DataFrame, dict]:
    """Predict ``target_name`` for every row of a cells.csv-shaped file with the newest (or the given) model."""
    target(target_name)
    frame = read_recipes(path)
    if model_id:
        row = _model_row(root, model_id)
    else:
        row = latest(root, target_name)
        if row is None:
            raise InputError(f"no model for '{target_name}' in the lake. Train one first: "
                             f"`cathode train --target {target_name}`.", found=target_name)
    return predict_frame(load(root, row), frame, level), row


def predict_under_test(root: Path, level: float = 0.9, model_id: str | None = None) -> tuple[pl.DataFrame, dict]:
    """Cycle life of the lake's cells still above 80 % retention, from their first N cycles (the newest early-life
    model, or the given one): cell_id, cycles_tested, last_retention_frac, cycles_to_80_pred/_lo/_hi. A cell is
    known to last at least as long as it has been tested, so the prediction and its lower bound start there.
    `beyond_measured_life`: the interval reaches past the longest life any training cell was measured to have — the
    model has seen no cell die that late, so there the interval is a guess, not a calibrated statement."""
    row = _model_row(root, model_id) if model_id else latest(root, "cycles_to_80", "early_life")
    if row is None or row["estimator"] != "early_life":
        raise InputError("no early-life model in the lake. Train one: `cathode train` (it needs cells tested past "
                         f"cycle {DEFAULT_N} above 80 % retention).", found=model_id or "none")
    model = load(root, row)
    n = model.early_cycles_
    frame = _complete_recipes(cell_frame(root)).join(early_features(cycles_frame(root), n), on="cell_id")
    frame = frame.filter(pl.col("censored_80") & (pl.col("cycles_tested") >= n))
    if frame.height == 0:
        raise InputError(f"no cell is under test past cycle {n} and still above 80 % retention.",
                         expected=f"cells with >= {n} cycles, retention >= 0.8", found=0)
    out = predict_frame(model, frame, level)
    tested = pl.col("cycles_tested").cast(pl.Float64)
    longest = longest_measured_life(model)
    return out.select("cell_id", "process", "cycles_tested", "last_retention_frac",
                      pl.max_horizontal("cycles_to_80_pred", tested).alias("cycles_to_80_pred"),
                      pl.max_horizontal("cycles_to_80_lo", tested).alias("cycles_to_80_lo"),
                      pl.max_horizontal("cycles_to_80_hi", tested).alias("cycles_to_80_hi"),
                      "extrapolation", (pl.max_horizontal("cycles_to_80_hi", tested) > longest)
                      .alias("beyond_measured_life")).sort("cell_id"), row


def longest_measured_life(model: Surrogate) -> float:
    """The longest cycle life (target unit) a training cell of ``model`` was measured to have, 0 if none died: past
    it the model has seen no cell die, and its interval is a guess, not a calibrated statement."""
    uncensored = model.oof_["y"][~model.oof_["censored"]]
    return float(from_model_scale(model.target_, np.array([uncensored.max()]))[0]) if uncensored.size else 0.0


def _model_row(root: Path, model_id: str) -> dict:
    rows = store.query(root, "SELECT * FROM models WHERE model_id = ?", [model_id]).to_pylist()
    if not rows:
        raise InputError("no such model.", expected="a model_id from the models table",
                         found=model_id)
    return rows[0]


def extrapolated(frame: pl.DataFrame) -> int:
    return int(np.sum(frame["extrapolation"].to_numpy()))
