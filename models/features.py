"""Cells -> features and targets for the surrogate models.

One canonical frame ("cell frame") carries a cell's recipe, its measured microstructure and its life summary; it is
read from the lake in SQL (`cell_frame`) or built by any lab function with the same columns (the virtual-lab
benchmark does so). `Featurizer` turns it into the model matrix: the recipe, the measured microstructure (imputed
from the recipe by a model of its own where it is missing, and flagged), and features from the seed's mechanism
(An et al. 2023: poor NCM/binder contact -> asynchronous charging -> electrolyte oxidation). Life is a product
of rates, so they enter on a log scale: log10 of the asynchrony proxy (1 - a)/a * sqrt(C/0.1), log10 ECA content
(the first wt % of additive does the most; a linear ECA axis hides that corner), the areal current proxy
loading x C-rate, 1000/T (Arrhenius) and densification squared. The mechanism shapes the features; no number of
any simulator enters them: where the best ECA content lies (log10 ECA and ECA together, a x e^(1-x)-like bump
whose peak the model places) and where over-densification starts to crack particles (densification and its
square) are learnt from the cells.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.base import BaseEstimator
from sklearn.linear_model import Ridge

from lake import cycle_life, store
from lake.errors import InputError
from lake.recipe import BOUNDS, MICROSTRUCTURE as MICRO, PROCESSES, RECIPE, RECIPE_OPTIONAL

NUMERIC_RECIPE = RECIPE[1:]
LIFE = ("cycles_tested", *(f"{k}_{pct}" for pct in cycle_life.THRESHOLDS for k in ("cycles_to", "censored")),
        "short_cycle", "initial_areal_capacity_mah_cm2", "last_retention_frac", "test_ended")   # cell_life view
MIN_CELLS = 8
# Mechanism features (see the module docstring). Log floors keep zero ECA and full contact (a = 1) finite: ECA
# 0.5 wt %, asynchrony 0.01 ((1 - a)/a at a = 0.99) — scales of a log axis, not optima.
PHYSICS = ("inv_temperature_1000_k", "log10_c_rate", "loading_x_c_rate", "loading2_x_c_rate", "log10_eca",
           "densification2")
ECA_FLOOR, ASYNCHRONY_FLOOR = 0.005, 0.01


@dataclass(frozen=True)
class Target:
    """A modelled quantity: ``column`` of the cell frame on a log10 (or loss) scale, with lower-bound censoring."""
    name: str
    unit: str
    description: str

    @property
    def retention_cycle(self) -> int | None:
        return int(self.name.split("_")[1]) if self.name.startswith("retention_") else None


TARGETS = {t.name: t for t in (
    Target("cycles_to_80", "cycles", "first cycle below 80 % retention (censored cells are lower bounds)"),
    Target("cycles_to_70", "cycles", "first cycle below 70 % retention (censored cells are lower bounds)"),
    Target("cycles_to_50", "cycles", "first cycle below 50 % retention (censored cells are lower bounds)"),
    Target("initial_areal_capacity", "mAh/cm2", "best areal discharge capacity of cycles 1-3"),
)}


def target(name: str) -> Target:
    """A known target, or `retention_N` (retention at cycle N, fraction)."""
    if name in TARGETS:
        return TARGETS[name]
    if name.startswith("retention_") and name.split("_")[1].isdigit() and int(name.split("_")[1]) >= 1:
        return Target(name, "fraction", f"retention at cycle {name.split('_')[1]} (capacity / best of cycles 1-3)")
    raise InputError("unknown target.", column="target",
                     expected="one of " + ", ".join([*TARGETS, "retention_N (e.g. retention_300)"]), found=name)


# ---------------------------------------------------------------- the cell frame

def cell_frame(root: Path, retention_cycles: tuple[int, ...] = ()) -> pl.DataFrame:
    """Every cell of the lake with its recipe, measured microstructure, life summary, batch (source file) and,
    for each N in ``retention_cycles``, `retention_N` (null when the test ended earlier)."""
    extra = "".join(f", (SELECT r.retention_frac FROM retention r WHERE r.cell_id = c.cell_id AND r.cycle_number = "
                    f"{int(n)}) AS retention_{int(n)}" for n in retention_cycles)
    table = store.query(root, f"""
        SELECT c.cell_id, {', '.join('c.' + n for n in RECIPE + MICRO)}, c.source_sha256 AS batch, c.source,
               {', '.join('l.' + n for n in LIFE)}{extra}
        FROM cells c LEFT JOIN cell_life l USING (cell_id)
        ORDER BY c.cell_id""")
    return pl.from_arrow(table)


def target_values(frame: pl.DataFrame, tgt: Target) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(y, censored, usable) on the model scale.

    cycles_to_X: log10 cycles, censored = lower bound (the test ended above the threshold).
    initial_areal_capacity: log10 mAh/cm2, never censored.
    retention_N: z = log10(capacity lost by cycle N) = log10(1 - retention_N), floored at log10(0.005); when the
    test ended before cycle N the loss at N is at least the loss at the last cycle: a lower bound on z.
    """
    n = frame.height
    if tgt.name.startswith("cycles_to_"):
        thr = tgt.name.split("_")[-1]
        y = _col(frame, tgt.name)
        cens = _col(frame, f"censored_{thr}", 0.0) > 0.5
        return np.log10(np.maximum(y, 1.0)), cens, np.isfinite(y)
    if tgt.name == "initial_areal_capacity":
        y = _col(frame, "initial_areal_capacity_mah_cm2")
        ok = np.isfinite(y) & (y > 0)
        return np.log10(np.where(ok, y, 1.0)), np.zeros(n, bool), ok
    cycle = tgt.retention_cycle
    at_n = _col(frame, tgt.name) if tgt.name in frame.columns else np.full(n, np.nan)
    last = _col(frame, "last_retention_frac")
    tested = _col(frame, "cycles_tested")
    cens = ~np.isfinite(at_n) & np.isfinite(last) & (tested < cycle)
    r = np.where(cens, last, at_n)
    return loss_scale(r), cens, np.isfinite(r)


def loss_scale(retention: np.ndarray) -> np.ndarray:
    return np.log10(np.clip(1.0 - np.asarray(retention, float), 0.005, None))


def from_model_scale(tgt: Target, z: np.ndarray) -> np.ndarray:
    """Model scale -> the target's unit (cycles, mAh/cm2, retention fraction)."""
    if tgt.retention_cycle:
        return np.clip(1.0 - 10.0 ** np.asarray(z, float), 0.0, 1.0)
    return 10.0 ** np.asarray(z, float)


def _col(frame: pl.DataFrame, name: str, fill: float = np.nan) -> np.ndarray:
    if name not in frame.columns:
        return np.full(frame.height, fill)
    return frame[name].cast(pl.Float64).fill_null(fill).to_numpy().astype(float)


# ---------------------------------------------------------------- imputation: a missing value is still data

def columns(frame: pl.DataFrame) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The numeric recipe and microstructure columns as float arrays (NaN where missing) and the process array,
    read in one pass (column-by-column access costs ~1 ms each in polars, and campaigns featurise often)."""
    present = [n for n in NUMERIC_RECIPE + MICRO if n in frame.columns]
    values = frame.select([pl.col(n).cast(pl.Float64) for n in present]).to_numpy() if present else None
    cols = {n: values[:, i].astype(float) for i, n in enumerate(present)}
    for n in NUMERIC_RECIPE + MICRO:
        cols.setdefault(n, np.full(frame.height, np.nan))
    return cols, frame["process"].to_numpy().astype(str)


def _linear(model: Ridge, X: np.ndarray) -> np.ndarray:
    return X @ model.coef_ + model.intercept_          # Ridge.predict without its per-call validation cost


class RecipeImputer(BaseEstimator):
    """Fills a blank optional recipe value (densification_frac: papers rarely report it) with the mean of the
    training cells of the same process that report it; with the mean of all that report it when none of that process
    does; with the middle of the range a lab can make when none does.

    Why the process mean: densification is the lab's choice within the process's window, so the process is what
    predicts it; the conditional mean is the best single value under "missing at random given the process", and a
    GP fed it keeps the cell's life and capacity as evidence about the rest of its recipe. Not a missing-indicator
    feature: it would be learnt from the few unreported (literature) cells only, confounded with their source, and
    would never transfer to a proposal, which always sets densification. Not marginalisation over the window: the
    acquisition conditions GPs on fixed feature rows thousands of times per batch, and Monte-Carlo over d would
    multiply that cost for a correction the GP noise term already absorbs."""

    def fit(self, frame: pl.DataFrame):
        cols, proc = columns(frame)
        self.means_ = {}
        for name in RECIPE_OPTIONAL:
            v = cols[name]
            ok = np.isfinite(v)
            pooled = float(v[ok].mean()) if ok.any() else float(np.mean(BOUNDS[name]))
            self.means_[name] = {"*": pooled, **{p: float(v[ok & (proc == p)].mean()) if (ok & (proc == p)).any()
                                                 else pooled for p in PROCESSES}}
        return self

    def fill(self, cols: dict, proc: np.ndarray) -> np.ndarray:
        """Fill blank optional recipe values in ``cols`` (in place); returns where a value was imputed."""
        imputed = np.zeros(len(proc), bool)
        for name, means in self.means_.items():
            miss = ~np.isfinite(cols[name])
            if miss.any():
                guess = np.array([means.get(p, means["*"]) for p in proc])    # "*": all processes
                cols[name] = np.where(miss, guess, cols[name])
                imputed |= miss
        return imputed


class MicrostructureImputer(BaseEstimator):
    """Predicts porosity and active-area fraction from the recipe (per process: ridge on densification and
    loading; pooled with process indicators when a process has fewer than 3 measured cells)."""

    def __init__(self, alpha: float = 1e-3):
        self.alpha = alpha

    def fit(self, frame: pl.DataFrame):
        cols, proc = columns(frame)
        self.models_ = {}
        self.available_ = []
        for name in MICRO:
            y = cols[name]
            ok = np.isfinite(y)
            if ok.sum() < 3:
                continue
            self.available_.append(name)
            pooled = Ridge(alpha=self.alpha).fit(self._x(cols, proc, pooled=True)[ok], y[ok])
            per = {}
            for p in PROCESSES:
                m = ok & (proc == p)
                if m.sum() >= 3:
                    per[p] = Ridge(alpha=self.alpha).fit(self._x(cols, proc)[m], y[m])
            self.models_[name] = (pooled, per)
        return self

    @staticmethod
    def _x(cols: dict, proc: np.ndarray, pooled: bool = False) -> np.ndarray:
        base = np.column_stack([np.nan_to_num(cols["densification_frac"]),
                                np.nan_to_num(cols["loading_mg_cm2"]) / 10.0])
        if not pooled:
            return base
        return np.column_stack([base] + [(proc == p).astype(float) for p in PROCESSES])

    def fill(self, cols: dict, proc: np.ndarray) -> np.ndarray:
        """Fill missing microstructure in ``cols`` (in place); returns where a value was imputed."""
        imputed = np.zeros(len(proc), bool)
        for name in self.available_:
            pooled, per = self.models_[name]
            y = cols[name]
            guess = _linear(pooled, self._x(cols, proc, pooled=True))
            for p, model in per.items():
                m = proc == p
                if m.any():
                    guess[m] = _linear(model, self._x(cols, proc)[m])
            miss = ~np.isfinite(y)
            imputed |= miss
            cols[name] = np.clip(np.where(miss, guess, y), 0.0, 1.0)
        return imputed


# ---------------------------------------------------------------- features

@functools.cache
def _reference_recipes(n: int = 300) -> pl.DataFrame:
    """Recipes spread evenly over every process and uniformly over the ranges a lab can make (lake.recipe.BOUNDS),
    the same each call: a feature's spread over them is its scale where the training cells do not vary it."""
    rng = np.random.default_rng(0)
    return pl.DataFrame({"process": [PROCESSES[i % len(PROCESSES)] for i in range(n)],
                         **{c: rng.uniform(*BOUNDS[c], n) for c in NUMERIC_RECIPE}})


class Featurizer(BaseEstimator):
    """Cell frame -> feature matrix; ``physics`` adds the mechanism features. Remembers the training domain.

    ``measured=False`` uses the recipe-imputed microstructure for every cell, measured or not: what a campaign
    wants, since a recipe it proposes has no measurement yet (train and predict then see the same feature).
    A blank optional recipe value (densification_frac) is imputed first (`RecipeImputer`), so such a cell is
    learnt from and predicted like any other; `complete` shows the values used."""

    def __init__(self, physics: bool = True, measured: bool = True):
        self.physics, self.measured = physics, measured

    def fit(self, frame: pl.DataFrame):
        self.recipe_imputer_ = RecipeImputer().fit(frame)
        self.imputer_ = MicrostructureImputer().fit(self.complete(frame)[0])
        names = [f"process={p}" for p in PROCESSES] + list(NUMERIC_RECIPE) + list(self.imputer_.available_)
        if self.physics:
            names = [n for n in names if n not in ("temperature_c", "c_rate", "porosity_frac")] + list(PHYSICS)
            if "active_area_frac" in self.imputer_.available_:
                names += ["log10_asynchrony"]
        self.feature_names_ = names
        x, _ = self.transform(frame)
        self.lo_, self.hi_ = np.nanmin(x, axis=0), np.nanmax(x, axis=0)
        self.processes_ = sorted(set(frame["process"].to_list()))
        self.spread_ = np.nanstd(self.transform(_reference_recipes())[0], axis=0)
        return self

    def complete(self, frame: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray]:
        """``frame`` with its blank optional recipe values imputed, and where that happened."""
        cols, proc = columns(frame)
        imputed = self._fill_recipe(cols, proc)
        return frame.with_columns([pl.Series(n, cols[n], pl.Float64) for n in RECIPE_OPTIONAL]), imputed

    def _fill_recipe(self, cols: dict, proc: np.ndarray) -> np.ndarray:
        imputer = getattr(self, "recipe_imputer_", None)      # absent from models pickled before it existed
        return imputer.fill(cols, proc) if imputer is not None else np.zeros(len(proc), bool)

    def fingerprint(self) -> bytes:
        """Equal for two featurizers that turn every frame into the same matrix (names, options, imputations)."""
        recipe_means = getattr(getattr(self, "recipe_imputer_", None), "means_", None)
        parts = [repr((self.feature_names_, self.physics, self.measured, recipe_means)).encode()]
        for pooled, per in (self.imputer_.models_[m] for m in self.imputer_.available_):
            for model in [pooled, *per.values()]:
                parts += [model.coef_.tobytes(), np.float64(model.intercept_).tobytes()]
        return b"|".join(parts)

    def transform(self, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The feature matrix and where the microstructure was imputed."""
        cols, proc = columns(frame)
        self._fill_recipe(cols, proc)
        if not self.measured:
            cols.update({m: np.full(len(proc), np.nan) for m in MICRO})
        imputed = self.imputer_.fill(cols, proc)
        cols.update({f"process={p}": (proc == p).astype(float) for p in PROCESSES})
        c = np.maximum(cols["c_rate"], 1e-6)
        cols["inv_temperature_1000_k"] = 1000.0 / (cols["temperature_c"] + 273.15)
        cols["log10_c_rate"] = np.log10(c)
        cols["loading_x_c_rate"] = cols["loading_mg_cm2"] * c
        cols["loading2_x_c_rate"] = cols["loading_mg_cm2"] ** 2 * c / 100.0
        cols["log10_eca"] = np.log10(np.maximum(cols["eca_wt_frac"], 0.0) + ECA_FLOOR)
        cols["densification2"] = cols["densification_frac"] ** 2
        a = np.clip(cols["active_area_frac"], 0.02, 1.0)
        cols["log10_asynchrony"] = np.log10((1 - a) / a * np.sqrt(c / 0.1) + ASYNCHRONY_FLOOR)
        return np.column_stack([cols[n] for n in self.feature_names_]), imputed

    def extrapolation(self, frame: pl.DataFrame) -> np.ndarray:
        """True where a row lies outside the training domain: a process not seen, or a feature outside the
        training range by more than 2 % of that range."""
        x, _ = self.transform(frame)
        span = np.where(self.hi_ > self.lo_, self.hi_ - self.lo_, 1.0)
        tol = 0.02 * span
        out = ((x < self.lo_ - tol) | (x > self.hi_ + tol)).any(axis=1)
        return out | ~np.isin(frame["process"].to_numpy(), self.processes_)
