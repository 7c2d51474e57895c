"""Objectives: what a campaign maximises, which surrogate targets each needs, and how to read it from a cell.

- `cycle_life`: cycles to 80 % retention (a censored cell is a lower bound); searched on log10.
- `areal_capacity`: initial areal capacity, mAh/cm2.
- `delivered_capacity:N`: areal capacity x retention at cycle N, mAh/cm2 — one figure joining loading and life.
  Modelled as its two parts, log10 areal capacity and the capacity lost by cycle N on log10 (`retention_N`: what
  the lab measured at N, a lower bound on the loss where the test ended earlier), then multiplied. A cell that
  died before N (fell below 50 %) is not a bare "loss >= 100 %": its loss is extrapolated past 100 % along its own
  fade (a power law of cycle number through its 80 % and 50 % anchors), so an early death ranks below a late one.
  (Reading retention at N off the cycles-to-80/70/50 % anchors instead was biased low near the optimum: there the
  50 % anchor lies beyond a test of N cycles, so it is censored at N and the curve read through it says ~50 %.)
- default (`pareto`): the two-objective front of cycle life and areal capacity.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from lake.errors import InputError, UsageError

NAMES = ("cycle_life", "areal_capacity", "delivered_capacity:N", "pareto")
PARETO = ("cycle_life", "areal_capacity")
DEATH = 0.5                 # retention below which a cell is dead (its cycles_to_50 is its death)


@dataclass(frozen=True)
class Objective:
    name: str
    targets: tuple[str, ...]
    unit: str
    log: bool = False                    # searched (and scalarised) on log10

    @property
    def n_cycles(self) -> int | None:
        return int(self.name.split(":")[1]) if self.name.startswith("delivered_capacity:") else None

    def combine(self, samples: dict[str, np.ndarray]) -> np.ndarray:
        """Samples of each target on its model scale -> samples of the objective in its unit."""
        from models.features import from_model_scale, target   # here: `cathode propose --help` reads NAMES only
        if self.name == "cycle_life":
            return from_model_scale(target("cycles_to_80"), samples["cycles_to_80"])
        areal = from_model_scale(target("initial_areal_capacity"), samples["initial_areal_capacity"])
        if self.name == "areal_capacity":
            return areal
        at_n = f"retention_{self.n_cycles}"
        return areal * from_model_scale(target(at_n), samples[at_n])

    def search_scale(self, values: np.ndarray) -> np.ndarray:
        return np.log10(np.maximum(values, 1e-9)) if self.log else values

    def observed(self, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Measured value of each cell and whether it is only a bound (censored / test ended before cycle N)."""
        def col(name):
            return frame[name].cast(pl.Float64).fill_null(np.nan).to_numpy() if name in frame.columns \
                else np.full(frame.height, np.nan)
        if self.name == "cycle_life":
            return col("cycles_to_80"), col("censored_80") > 0.5
        areal = col("initial_areal_capacity_mah_cm2")
        if self.name == "areal_capacity":
            return areal, np.zeros(frame.height, bool)
        at_n = col(f"retention_{self.n_cycles}")
        bound = ~np.isfinite(at_n)
        return areal * np.where(bound, col("last_retention_frac"), at_n), bound & np.isfinite(areal)


def parse(text: str | None) -> list[Objective]:
    """`cycle_life`, `areal_capacity`, `delivered_capacity:N`, a comma list of them, or None / `pareto`."""
    names = list(PARETO) if text in (None, "", "pareto") else [t.strip() for t in text.split(",") if t.strip()]
    out = []
    for name in names:
        if name == "cycle_life":
            out.append(Objective(name, ("cycles_to_80",), "cycles", log=True))
        elif name == "areal_capacity":
            out.append(Objective(name, ("initial_areal_capacity",), "mAh/cm2"))
        elif name.startswith("delivered_capacity:") and name.split(":", 1)[1].isdigit() \
                and int(name.split(":", 1)[1]) >= 1:
            out.append(Objective(name, ("initial_areal_capacity", f"retention_{name.split(':', 1)[1]}"), "mAh/cm2"))
        else:
            raise UsageError("unknown objective.", argument="objective",
                             expected="one of " + ", ".join(NAMES) + " (N a cycle number, e.g. 300)", found=name)
    if len({o.name for o in out}) != len(out):
        raise UsageError("an objective is named twice.", argument="objective", expected="each once", found=text)
    return out


def with_extrapolated_loss(frame: pl.DataFrame, targets) -> pl.DataFrame:
    """For each `retention_N` target: a cell whose test ended before cycle N after falling below 50 % gets the
    retention its own fade extrapolates to at N (negative past total loss: log10 of the loss then keeps growing the
    earlier the cell died). Damage is a power law of cycle number through its 80 % and 50 % anchors."""
    needed = ("cycles_tested", "cycles_to_80", "cycles_to_50", "censored_50")
    if not all(c in frame.columns for c in needed):
        return frame
    for name in targets:
        if not name.startswith("retention_"):
            continue
        n = int(name.split("_")[1])
        died = (pl.col("cycles_tested") < n) & pl.col("censored_50").not_() & pl.col("cycles_to_50").is_not_null()
        c80 = pl.col("cycles_to_80").cast(pl.Float64).clip(1.0)
        c50 = pl.max_horizontal(pl.col("cycles_to_50").cast(pl.Float64), c80 + 1.0)
        slope = (np.log10(0.5 / 0.2) / (c50.log10() - c80.log10())).clip(0.5, 10.0)
        log_loss = (np.log10(0.5) + slope * (np.log10(n) - c50.log10())).clip(0.0, None)
        measured = pl.col(name) if name in frame.columns else pl.lit(None, pl.Float64)
        frame = frame.with_columns(pl.when(died).then(1.0 - 10.0 ** log_loss).otherwise(measured).alias(name))
    return frame


def targets_of(objectives: list[Objective]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t for o in objectives for t in o.targets))


def label(objectives: list[Objective]) -> str:
    return ",".join(o.name for o in objectives)
