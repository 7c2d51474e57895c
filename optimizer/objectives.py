"""Objectives: what a campaign maximises, which surrogate targets each needs, and how to read it from a cell.

- `cycle_life`: cycles to 80 % retention (a censored cell is a lower bound); searched on log10.
- `areal_capacity`: initial areal capacity, mAh/cm2.
- `delivered_capacity:N`: areal capacity x retention at cycle N, mAh/cm2 — one figure joining loading and life.
  Retention at N is not modelled directly (near the end of life it jumps with every noisy cell); it is read off
  the fade curve through the modelled cycles to 80, 70 and 50 % (damage 0.2, 0.3, 0.5), interpolated as a power
  law of cycle number between them and extended with the last slope — smooth, low-noise targets on log10.
- default (`pareto`): the two-objective front of cycle life and areal capacity.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from lake.errors import InputError
from models.features import from_model_scale, target

NAMES = ("cycle_life", "areal_capacity", "delivered_capacity:N", "pareto")
PARETO = ("cycle_life", "areal_capacity")
LIFE_TARGETS = ("cycles_to_80", "cycles_to_70", "cycles_to_50")
DAMAGE = np.log([0.2, 0.3, 0.5])          # capacity lost at the three anchors


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
        if self.name == "cycle_life":
            return from_model_scale(target("cycles_to_80"), samples["cycles_to_80"])
        areal = from_model_scale(target("initial_areal_capacity"), samples["initial_areal_capacity"])
        if self.name == "areal_capacity":
            return areal
        return areal * retention_at(self.n_cycles, *(samples[t] for t in LIFE_TARGETS))

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


def retention_at(n: int, log_l80, log_l70, log_l50) -> np.ndarray:
    """Retention at cycle n from log10 cycles to 80, 70 and 50 %: log(damage) linear in log(cycle) between the
    anchors (kept in order), the last slope beyond them; 0 once the damage reaches 1."""
    l80 = np.asarray(log_l80, float) * np.log(10)
    l70 = np.maximum(np.asarray(log_l70, float) * np.log(10), l80 + 1e-3)
    l50 = np.maximum(np.asarray(log_l50, float) * np.log(10), l70 + 1e-3)
    x = np.log(n)
    early = DAMAGE[0] + (DAMAGE[1] - DAMAGE[0]) / (l70 - l80) * (x - l80)
    late = DAMAGE[1] + (DAMAGE[2] - DAMAGE[1]) / (l50 - l70) * (x - l70)
    with np.errstate(over="ignore"):
        damage = np.exp(np.where(x <= l70, early, late))
    return np.clip(1.0 - damage, 0.0, 1.0)


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
            out.append(Objective(name, ("initial_areal_capacity",) + LIFE_TARGETS, "mAh/cm2"))
        else:
            raise InputError("unknown objective.", column="objective",
                             expected="one of " + ", ".join(NAMES) + " (N a cycle number, e.g. 300)", found=name)
    if len({o.name for o in out}) != len(out):
        raise InputError("an objective is named twice.", column="objective", found=text)
    return out


def targets_of(objectives: list[Objective]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t for o in objectives for t in o.targets))


def label(objectives: list[Objective]) -> str:
    return ",".join(o.name for o in objectives)
