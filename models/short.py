"""Lithium-metal shorts: a second way a cell fails, modelled apart from fade.

A cell whose test ended by a short (the lake's `short_cycle`, from cycles.csv `end_of_test = short`) failed suddenly
at that cycle, whatever its fade would have done. Life is then min(fade life, short cycle): the fade model learns
from such a cell as a lower bound (it had not faded when it shorted), and `ShortModel` learns

- P(short first | recipe): a logistic model on mechanism-shaped features — the areal current a cell draws is
  loading x capacity x C-rate (log10 loading x C-rate, and the cut-off voltage that sets the capacity), and the
  current a lithium anode tolerates rises with the electrolyte's conductivity (1000/T, ECA content on a log and a
  linear axis, process). No threshold or constant of any simulator: the weights are learnt from the lake's cells.
- when it shorts: the training shorts' log10 cycles (their mean and their empirical quantiles).

`Surrogate` mixes the two into the predictive distribution of cycles-to-X (mean and interval).
"""
from __future__ import annotations

import numpy as np
import polars as pl
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression

from lake.recipe import PROCESSES
from models.features import ECA_FLOOR

# A lake has a handful of shorts (0-3 among 60 cells uniform over the space on the tuning labs): one short and
# the cells that carried more current without shorting already place a boundary. Inverse L2 strength on the
# standardised features: on tuning variants 1-10 (60 -> 200 cells), C = 3 gave the lowest Brier score of 0.3-10,
# and this feature set beat areal current alone or without the process.
MIN_SHORTS = 1             # fewer: P(short) is the (shrunk) share of shorts, not a function of the recipe
C_REG = 3.0


def short_features(frame: pl.DataFrame) -> np.ndarray:
    """The classifier's inputs for a recipe frame (missing values are filled by the caller's featurizer)."""
    def col(name):
        return frame[name].cast(pl.Float64).fill_null(np.nan).to_numpy().astype(float)
    c, load, eca = np.maximum(col("c_rate"), 1e-6), np.maximum(col("loading_mg_cm2"), 1e-6), col("eca_wt_frac")
    proc = frame["process"].to_numpy().astype(str)
    return np.column_stack([np.log10(load * c), col("voltage_max_v"), 1000.0 / (col("temperature_c") + 273.15),
                            np.log10(np.maximum(eca, 0.0) + ECA_FLOOR), eca,
                            *[(proc == p).astype(float) for p in PROCESSES]])


def shorted_first(frame: pl.DataFrame, column: str) -> np.ndarray:
    """True where the cell's failure in ``column`` (cycles_to_X) was its short."""
    if "short_cycle" not in frame.columns or column not in frame.columns:
        return np.zeros(frame.height, bool)
    return (frame["short_cycle"] <= frame[column]).fill_null(False).to_numpy()


class ShortModel(BaseEstimator):
    """P(the cell shorts before it fades to the threshold | recipe) and the log10 cycle at which it shorts."""

    def fit(self, frame: pl.DataFrame, shorted: np.ndarray, log_cycles: np.ndarray):
        shorted = np.asarray(shorted, bool)
        self.n_shorts_, self.n_cells_ = int(shorted.sum()), len(shorted)
        self.times_ = np.sort(np.asarray(log_cycles, float)[shorted])
        self.classifier_ = None
        if self.n_shorts_ >= MIN_SHORTS and (~shorted).sum() >= MIN_SHORTS:
            x = short_features(frame)
            self.x_mean_, self.x_scale_ = x.mean(axis=0), np.where(x.std(axis=0) > 1e-12, x.std(axis=0), 1.0)
            self.classifier_ = LogisticRegression(C=C_REG, max_iter=1000).fit(self._scale(x), shorted)
        return self

    def _scale(self, x: np.ndarray) -> np.ndarray:
        return np.nan_to_num((x - self.x_mean_) / self.x_scale_)

    def probability(self, frame: pl.DataFrame) -> np.ndarray:
        if self.classifier_ is None:           # the share of shorts, shrunk towards none (add-one on the others)
            return np.full(frame.height, self.n_shorts_ / (self.n_cells_ + 1.0))
        return self.classifier_.predict_proba(self._scale(short_features(frame)))[:, 1]

    @property
    def mean_log_cycles(self) -> float:
        return float(self.times_.mean()) if self.times_.size else 0.0

    def interval(self, level: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Equal-tailed interval of log10 short cycles at each ``level`` (empirical, within the observed range; a
        lake without shorts, where P(short) is 0 and this is unused: cycle 1)."""
        times = self.times_ if self.times_.size else np.zeros(1)
        tail = (1.0 - np.clip(level, 0.0, 1.0)) / 2.0
        return np.quantile(times, tail), np.quantile(times, 1.0 - tail)
