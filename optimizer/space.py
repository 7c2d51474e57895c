"""The recipe space in one place: a categorical process and six bounded numbers, with fixes and narrowed bounds.

Defaults are the ranges a lab can make (`lake.recipe.BOUNDS`). A campaign narrows it with a TOML file or flags:
`--fix temperature_c=60`, `--min loading_mg_cm2=12`, `--max ...`, `--bounds name=lo:hi`, `--process a,b`.
Every check raises an InputError naming the parameter, what was expected and what was found; nothing is written.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import polars as pl
from scipy.stats import qmc

from lake.errors import InputError, UsageError
from lake.recipe import BOUNDS, PROCESSES, RECIPE, SEED_PROTOCOL, STEP

NUMERIC = tuple(BOUNDS)                   # loading, densification, eca, temperature, voltage, c-rate
PARAMETERS = RECIPE                       # process + NUMERIC


@dataclass(frozen=True)
class Space:
    """Bounds per numeric parameter, allowed processes, and fixed values (a fixed parameter is not searched)."""
    bounds: dict = field(default_factory=lambda: {k: (float(lo), float(hi)) for k, (lo, hi) in BOUNDS.items()})
    processes: tuple = PROCESSES
    fixed: dict = field(default_factory=dict)

    # -------------------------------------------------------------- building
    def narrow(self, name: str, lo: float | None = None, hi: float | None = None) -> "Space":
        _known(name, numeric=True)
        old_lo, old_hi = self.bounds[name]
        lo = old_lo if lo is None else float(lo)
        hi = old_hi if hi is None else float(hi)
        d_lo, d_hi = BOUNDS[name]
        if lo > hi:
            raise UsageError(f"bounds of {name}: low is above high.", argument=f"parameter '{name}'", expected="low <= high",
                             found=f"{lo} > {hi}")
        if lo < d_lo or hi > d_hi:
            raise UsageError(f"bounds of {name} leave the recipe space.", argument=f"parameter '{name}'",
                             expected=f"within [{d_lo}, {d_hi}]", found=f"[{lo}, {hi}]")
        out = replace(self, bounds={**self.bounds, name: (lo, hi)})
        if name in out.fixed:
            out._check_fixed(name, out.fixed[name])
        return out

    def fix(self, name: str, value) -> "Space":
        _known(name)
        if name == "process":
            if value not in PROCESSES:
                raise UsageError("unknown process to fix.", argument="parameter 'process'", expected=" or ".join(PROCESSES),
                                 found=value)
            return replace(self, processes=(value,), fixed={**self.fixed, name: value})
        value = _number(name, value)
        self._check_fixed(name, value)
        return replace(self, fixed={**self.fixed, name: value})

    def _check_fixed(self, name: str, value: float) -> None:
        lo, hi = self.bounds[name]
        if not lo <= value <= hi:
            raise UsageError(f"fixed value of {name} is outside its bounds.", argument=f"parameter '{name}'",
                             expected=f"a number in [{lo}, {hi}]", found=value)

    def only_processes(self, names) -> "Space":
        names = tuple(dict.fromkeys(names))
        for n in names:
            if n not in PROCESSES:
                raise UsageError("unknown process.", argument="parameter 'process'", expected=" or ".join(PROCESSES), found=n)
        if not names:
            raise UsageError("no process left to search.", argument="parameter 'process'", expected="at least one", found="")
        return replace(self, processes=names)

    # -------------------------------------------------------------- using
    @property
    def free(self) -> tuple[str, ...]:
        return tuple(n for n in NUMERIC if n not in self.fixed)

    def complete(self, params: dict) -> dict:
        """Fixed values filled in; numbers as floats."""
        out = {**params, **self.fixed}
        return {"process": out["process"], **{n: float(out[n]) for n in NUMERIC}}

    def makeable(self, params: dict) -> dict:
        """``params`` at the precision a lab makes them with (`lake.recipe.STEP`), kept inside this space."""
        out = dict(params)
        for name, step in STEP.items():
            if name in out and name not in self.fixed and out[name] is not None:
                lo, hi = self.bounds[name]
                out[name] = min(max(round(round(out[name] / step) * step, 10), lo), hi)
        return out

    def contains(self, params: dict) -> bool:
        p = self.complete(params)
        return p["process"] in self.processes and all(
            self.bounds[n][0] - 1e-9 <= p[n] <= self.bounds[n][1] + 1e-9 for n in NUMERIC)

    def frame_from_unit(self, u: np.ndarray, procs: np.ndarray) -> pl.DataFrame:
        """Rows of the unit cube (one column per free parameter) and process indices -> a recipe frame."""
        u, procs = np.atleast_2d(u), np.asarray(procs, int)
        data = {"process": np.array(self.processes, dtype=object)[procs].astype(str)}
        for name in NUMERIC:
            if name in self.fixed:
                data[name] = np.full(len(procs), float(self.fixed[name]))
            else:
                lo, hi = self.bounds[name]
                data[name] = lo + np.clip(u[:, self.free.index(name)], 0, 1) * (hi - lo)
        return pl.DataFrame(data)

    def from_unit(self, u: np.ndarray, procs: np.ndarray) -> list[dict]:
        return self.frame_from_unit(u, procs).to_dicts()

    def unit_of(self, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """A recipe frame -> unit-cube coordinates of the free parameters and process indices."""
        u = np.column_stack([(frame[n].to_numpy() - self.bounds[n][0])
                             / ((self.bounds[n][1] - self.bounds[n][0]) or 1.0) for n in self.free]) \
            if self.free else np.zeros((frame.height, 0))
        index = {p: i for i, p in enumerate(self.processes)}
        return u, np.array([index.get(p, 0) for p in frame["process"].to_list()])

    def to_unit(self, recipes: list[dict]) -> tuple[np.ndarray, np.ndarray]:
        return self.unit_of(pl.DataFrame(recipes))

    def random_frame(self, n: int, rng: np.random.Generator) -> pl.DataFrame:
        return self.frame_from_unit(rng.random((n, len(self.free))), rng.integers(0, len(self.processes), n))

    def random(self, n: int, rng: np.random.Generator) -> list[dict]:
        return self.random_frame(n, rng).to_dicts()

    def latin_hypercube(self, n: int, rng: np.random.Generator) -> list[dict]:
        """A Latin hypercube over the free numbers (scipy's, randomised within strata), processes spread evenly
        and shuffled."""
        u = qmc.LatinHypercube(d=len(self.free), rng=rng).random(n)
        procs = rng.permutation(np.arange(n) % len(self.processes))
        return self.from_unit(u, procs)

    def describe(self) -> str:
        parts = [f"process in {{{', '.join(self.processes)}}}"]
        for n in NUMERIC:
            parts.append(f"{n}={self.fixed[n]:g}" if n in self.fixed else
                         f"{n} in [{self.bounds[n][0]:g}, {self.bounds[n][1]:g}]")
        return "; ".join(parts)


def _known(name: str, numeric: bool = False) -> None:
    names = NUMERIC if numeric else PARAMETERS
    if name not in names:
        raise UsageError("unknown parameter.", argument=f"parameter '{name}'", expected="one of " + ", ".join(names), found=name)


def _number(name: str, value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UsageError("not a number.", argument=f"parameter '{name}'", expected="a number", found=value) from None


def _pairs(items, flag: str) -> list[tuple[str, str]]:
    out = []
    for item in items or ():
        if "=" not in item:
            raise InputError(f"bad {flag}.", expected="name=value, e.g. temperature_c=60", found=item)
        name, value = item.split("=", 1)
        out.append((name.strip(), value.strip()))
    return out


def campaign_file(path: Path) -> dict:
    """A campaign TOML file: tables bounds, fix, min, max; keys processes, objective, n, study, after_cycles."""
    try:
        spec = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"cannot read the campaign file ({exc}).", file=str(path)) from None
    keys = ("bounds", "fix", "min", "max", "processes", "objective", "n", "study", "after_cycles")
    unknown = set(spec) - set(keys)
    if unknown:
        raise InputError("unknown key in the campaign file.", file=str(path), expected=", ".join(keys),
                         found=sorted(unknown)[0])
    for key, example in (("n", "e.g. 4"), ("after_cycles", "e.g. 50")):
        if key in spec and (not isinstance(spec[key], int) or isinstance(spec[key], bool)):
            raise InputError(f"{key} must be an integer.", file=str(path), column=key, expected=example,
                             found=spec[key])
    return spec


def build(fix=(), minimum=(), maximum=(), bounds=(), processes=None, campaign: Path | None = None,
          base: Space | None = None) -> Space:
    """A space from a campaign TOML file (tables `bounds`, `fix`, `min`, `max`, key `processes`) then flags."""
    space = base or Space()
    spec = campaign_file(campaign) if campaign is not None else {}
    if spec.get("processes") or processes:
        space = space.only_processes(processes or spec["processes"])
    for name, pair in spec.get("bounds", {}).items():
        if not isinstance(pair, list) or len(pair) != 2:
            raise InputError("bounds must be [low, high].", column=name, expected="[low, high]", found=pair)
        space = space.narrow(name, _number(name, pair[0]), _number(name, pair[1]))
    for name, text in _pairs(bounds, "--bounds"):
        lo, _, hi = text.partition(":")
        space = space.narrow(name, _number(name, lo), _number(name, hi))
    for name, value in list(spec.get("min", {}).items()) + _pairs(minimum, "--min"):
        _known(name, numeric=True)
        space = space.narrow(name, lo=_number(name, value))
    for name, value in list(spec.get("max", {}).items()) + _pairs(maximum, "--max"):
        _known(name, numeric=True)
        space = space.narrow(name, hi=_number(name, value))
    for name, value in list(spec.get("fix", {}).items()) + _pairs(fix, "--fix"):
        space = space.fix(name, value)
    return space


BENCHMARK_SPACE = Space().fix("voltage_max_v", SEED_PROTOCOL["voltage_max_v"]).fix("c_rate",
                                                                                  SEED_PROTOCOL["c_rate"])
