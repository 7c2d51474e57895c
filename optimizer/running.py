"""Cells still on the cycler: what their first cycles say about the objective, so a campaign can propose its next
batch before the last one has finished.

A running cell (its test has not ended: no `end_of_test` row, lake.cycle_life) that has not yet reached what the
objective measures — retention at cycle N of `delivered_capacity:N`, the threshold of `cycle_life` — is a censored
observation: its loss by cycle N is at least its loss so far. Early on that bound says little. The early-life model
sharpens it: trained on the lake's cells whose outcome is known, it predicts the outcome from the recipe plus the
first n cycles (the features of analytics/early_life.py: coulombic-efficiency deficit, fade, fade rate), and the
campaign's models then learn the running cell at E[y | y > bound] under that prediction (a normal with the early
model's calibrated sd) — where they would otherwise take it under their own recipe-only prediction. A test stopped
before cycle N (ended by the lab's plan or aborted) is read the same way for `retention_N`; for cycles-to-X only
running cells are, as an ended test past every training cell's life would ask the early model to extrapolate.

n is the longest of RUNGS the cell has completed for which at least MIN_CELLS cells with a known outcome have n
cycles too; with fewer the cell stays a plain censored observation. An early model counts as trustworthy when it
learnt from at least TRUSTED_CELLS cells and its cross-validated 90 % intervals held for a share of them within
TRUSTED_COVERAGE; `propose` and `best` say per batch which cells they relied on and whether it was.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import polars as pl
from scipy.stats import norm

from models.early import early_features, estimator as early_estimator
from models.features import from_model_scale, target, target_values
from models.surrogate import truncated_mean
from optimizer.objectives import DEATH, with_extrapolated_loss

RUNGS = (25, 50, 100, 200)          # cycles after which a running cell's first cycles are read
MIN_CELLS = 8                       # cells with a known outcome an early model needs before it is used
TRUSTED_CELLS = 15
TRUSTED_COVERAGE = (0.80, 0.97)
STOP_BELOW = 0.05                   # a running cell with a smaller chance of beating the best is not worth its channel


@dataclass(frozen=True)
class EarlyLife:
    """One early-life model a batch relied on."""
    target: str
    cycles: int                     # n: it reads each cell's first n cycles
    cells: int                      # cells it learnt from (outcome known, n cycles run)
    coverage: float | None          # cross-validated share of them inside their 90 % interval
    rmse: float | None              # cross-validated RMSE on the model scale (log10)
    predicted: int                  # unfinished cells (running, or stopped before cycle N) it predicted

    @property
    def trusted(self) -> bool:
        lo, hi = TRUSTED_COVERAGE
        return self.cells >= TRUSTED_CELLS and self.coverage is not None and lo <= self.coverage <= hi

    def describe(self) -> str:
        cov = f"{self.coverage:.2f}" if self.coverage is not None else "-"
        why = "" if self.trusted else (
            f": not yet trustworthy (fewer than {TRUSTED_CELLS} cells)" if self.cells < TRUSTED_CELLS else
            f": not yet trustworthy (coverage outside {TRUSTED_COVERAGE[0]}-{TRUSTED_COVERAGE[1]})")
        cells = f"{self.predicted} unfinished cell" + ("s" if self.predicted != 1 else "")
        return (f"{self.target} of {cells} from the first {self.cycles} cycles "
                f"(early-life model of {self.cells} cells, CV 90 % coverage {cov}){why}")


@dataclass(frozen=True)
class Reliance:
    """What a batch learnt from: finished and running cells, and the early-life models that read the running ones
    (``predicted``: per unfinished cell read, its cell_id, target, and model-scale mean and sd)."""
    finished: int
    running: int
    early_life: tuple[EarlyLife, ...] = ()
    predicted: tuple[dict, ...] = ()

    @property
    def trusted(self) -> bool | None:
        """Whether every early-life model used was trustworthy (None when none was used)."""
        return all(e.trusted for e in self.early_life) if self.early_life else None

    def describe(self) -> str:
        head = f"learnt from {self.finished} finished and {self.running} running cells"
        if not self.running:
            return head
        if not self.early_life:
            return (head + f"; running cells count as lower bounds only (an early-life model needs {MIN_CELLS} "
                    f"cells with a known outcome that ran as many cycles)")
        return head + "; predicted " + "; ".join(e.describe() for e in self.early_life)

    def record(self) -> dict:
        return {"finished": self.finished, "running": self.running,
                "early_life": [{**asdict(e), "trusted": e.trusted} for e in self.early_life]}


def running(frame: pl.DataFrame) -> np.ndarray:
    """Cells still cycling: cycles in the lake, no end_of_test row, not dead (retention >= 50 %, no short)."""
    def col(name, fill):
        return frame[name].fill_null(fill).to_numpy() if name in frame.columns else np.full(frame.height, fill)
    return ((col("cycles_tested", 0) > 0) & ~col("test_ended", True).astype(bool)
            & (col("last_retention_frac", 0.0).astype(float) >= DEATH) & (col("short_cycle", 0) == 0))


def sharpen(frame: pl.DataFrame, cycles: pl.DataFrame, targets, seed: int = 0
            ) -> tuple[pl.DataFrame, Reliance]:
    """``frame`` (the campaign's cells) with each running cell's censored targets replaced by their expected value
    under the early-life model, and what that relied on. ``cycles``: cell_id, cycle_number, retention_frac,
    coulombic_efficiency_frac of the lake's cells (models.early.cycles_frame)."""
    frame = with_extrapolated_loss(frame, targets)
    live = running(frame)
    used, predicted = [], []
    for name in targets:
        tgt = target(name)
        if not (name.startswith("cycles_to_") or tgt.retention_cycle):
            continue
        y, cens, usable = target_values(frame, tgt)
        todo = (live | bool(tgt.retention_cycle)) & cens & usable       # see the module doc
        sharpened = todo.copy()
        tested = frame["cycles_tested"].fill_null(0).to_numpy()
        values = y.copy()
        for n in sorted(RUNGS, reverse=True):
            pick = todo & (tested >= n)
            if not pick.any():
                continue
            got = _early_prediction(frame, cycles, tgt, n, ~sharpened & usable, pick, seed)
            if got is None:
                continue
            rows, mean, sd, model = got
            values[rows] = np.maximum(y[rows], truncated_mean(mean, sd, y[rows]))
            predicted += [{"cell_id": frame["cell_id"][int(i)], "target": name, "mean": float(m), "sd": float(d)}
                          for i, m, d in zip(rows, mean, sd)]
            todo[rows] = False
            used.append(EarlyLife(name, n, model.n_cells_, model.cv_metrics_.get("interval_coverage_90"),
                                  model.cv_metrics_.get("rmse_uncensored"), len(rows)))
        done = sharpened & ~todo
        if done.any():
            frame = _set_measured(frame, tgt, done, values)
    return frame, Reliance(int((~live & _has_cycles(frame)).sum()), int(live.sum()), tuple(used), tuple(predicted))


def running_ids(frame: pl.DataFrame) -> set[str]:
    """The cell ids of the cells still cycling (`running`)."""
    return set(frame.filter(pl.Series(running(frame)))["cell_id"].to_list())


def unread(frame: pl.DataFrame, reliance: Reliance | None) -> set[str]:
    """Running cells no early-life model has read (too young, or too few finished cells to learn from): for the
    objective they are bounds only, and the models' belief about their recipe is the recipe-only guess."""
    predicted = {p["cell_id"] for p in reliance.predicted} if reliance else set()
    return running_ids(frame) - predicted


def evidence_first(rows: list[dict], frame: pl.DataFrame, reliance: Reliance | None) -> list[dict]:
    """`recommend`'s rows with the recipes whose every cell is running and unread moved last (order otherwise
    kept): a recipe is recommended on what its cells showed, not on a guess about a test that has just begun.
    Without this, `best` in the first weeks of a campaign often named a just-started recipe that later died
    (lab-time bench, every rule: median regret 100 % for a few weeks)."""
    young = unread(frame, reliance)
    return sorted(rows, key=lambda r: bool(r["cells"]) and all(c in young for c in r["cells"]))


def not_worth_running(frame: pl.DataFrame, reliance: Reliance, objective, incumbent: float) -> list[tuple[str, float]]:
    """Running cells whose own outcome, as their first cycles predict it, beats ``incumbent`` (the objective's best
    believed value among measured recipes) with a probability below STOP_BELOW: (cell_id, that probability).
    Ending such a test frees its channel for a recipe that can still win. `delivered_capacity:N` only: the cell's
    outcome is its measured areal capacity x (1 - its loss by N), the loss from the early-life prediction."""
    if objective.n_cycles is None or not reliance.predicted:
        return []
    name = f"retention_{objective.n_cycles}"
    live = running_ids(frame)
    areal = dict(zip(frame["cell_id"].to_list(), frame["initial_areal_capacity_mah_cm2"].to_list()))
    out = []
    for p in reliance.predicted:
        a = areal.get(p["cell_id"])
        if p["target"] != name or p["cell_id"] not in live or a is None:
            continue
        need = 1.0 - incumbent / a                          # the largest loss by N with which it still wins
        chance = float(norm.cdf((np.log10(need) - p["mean"]) / max(p["sd"], 1e-9))) if need > 0 else 0.0
        if chance < STOP_BELOW:
            out.append((p["cell_id"], chance))
    return sorted(out)


def _early_prediction(frame, cycles, tgt, n, train_mask, pick_mask, seed):
    """Fit the early-life model at ``n`` cycles on the ``train_mask`` cells that ran n cycles, and predict the
    ``pick_mask`` cells: (their row indices, model-scale mean and sd, the model), or None with too few cells."""
    feats = early_features(cycles, n)
    indexed = frame.with_row_index("row").join(feats, on="cell_id", how="inner")
    rows = indexed["row"].to_numpy()
    train = indexed.filter(pl.Series(train_mask[rows]))
    new = indexed.filter(pl.Series(pick_mask[rows]))
    if train.height < MIN_CELLS or new.height == 0:
        return None
    model = early_estimator(seed).fit(train, tgt)
    pred = model.predict(new)
    return new["row"].to_numpy(), pred["mean"], pred["sd"], model


def _set_measured(frame: pl.DataFrame, tgt, rows: np.ndarray, values: np.ndarray) -> pl.DataFrame:
    """Write model-scale ``values`` of ``rows`` back as measured (uncensored) values of ``tgt``."""
    measured = from_model_scale(tgt, values)
    if tgt.retention_cycle:
        old = frame[tgt.name].cast(pl.Float64).to_numpy() if tgt.name in frame.columns else np.full(frame.height,
                                                                                                    np.nan)
        return frame.with_columns(pl.Series(tgt.name, np.where(rows, measured, old)))
    pct = tgt.name.split("_")[-1]
    old = frame[tgt.name].cast(pl.Float64).to_numpy()
    return frame.with_columns(pl.Series(tgt.name, np.where(rows, measured, old)),
                              pl.Series(f"censored_{pct}", np.where(rows, False,
                                                                    frame[f"censored_{pct}"].fill_null(False))))


def _has_cycles(frame: pl.DataFrame) -> np.ndarray:
    return frame["cycles_tested"].fill_null(0).to_numpy() > 0
