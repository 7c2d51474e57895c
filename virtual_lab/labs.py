"""Labs: functions `recipes -> outcomes` that drive a campaign. The virtual lab is one; a real lab's ingest is another.

An outcome is a row of the models' cell frame (recipe, measured microstructure, life summary, `retention_N`),
computed from the measured cycles with the lake's one cycle-life rule (lake/cycle_life.py, which the `retention`
and `cell_life` views also follow), so a campaign cannot tell a simulated cell from an ingested one.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import polars as pl

from lake import cycle_life
from lake.recipe import BOUNDS, MICROSTRUCTURE, RECIPE, read as read_recipes
from virtual_lab import source
from virtual_lab.lab import CellResult, LabConstants, Recipe, simulate

Lab = Callable[[Sequence[dict]], pl.DataFrame]


def life_row(res: CellResult, retention_cycles: Sequence[int] = ()) -> dict:
    """The cell-frame row of one simulated cell, as the lake would summarise its cycles."""
    r = res.recipe
    n = res.tested_cycles
    dis = np.asarray(res.discharge_capacity_mah_g[:n], float)
    row = {**{c: getattr(r, c) for c in RECIPE}, "porosity_frac": res.measured_porosity_frac,
           "active_area_frac": res.measured_active_area_frac, "cycles_tested": n}
    if n == 0:
        return {**row, "cycles_tested": None, **{f"retention_{c}": None for c in retention_cycles}}
    rule = cycle_life.life(np.arange(1, n + 1), dis, short_index=n if res.ended_by_short else None)
    row.update({k: rule[k] for k in rule if k.startswith(("cycles_to_", "censored_"))})
    row["short_cycle"] = rule["short_cycle"]
    row["initial_areal_capacity_mah_cm2"] = rule["baseline"] * r.loading_mg_cm2 / 1000
    row["last_retention_frac"] = rule["last_retention_frac"]
    row["test_ended"] = True                              # a simulated test has run its course
    for c in retention_cycles:
        row[f"retention_{c}"] = float(rule["retention"][c - 1]) if c <= n else None
    return row


def cycles_rows(cell_id: str, res: CellResult) -> pl.DataFrame:
    """Per-cycle retention and coulombic efficiency of one simulated cell (for early-life features)."""
    n = res.tested_cycles
    rule = cycle_life.life(np.arange(1, n + 1), res.discharge_capacity_mah_g[:n],
                           short_index=n if res.ended_by_short else None)
    return pl.DataFrame({"cell_id": [cell_id] * n, "cycle_index": np.arange(1, n + 1),
                         "cycle_number": np.arange(1, n + 1), "retention_frac": rule["retention"],
                         "coulombic_efficiency_frac": np.asarray(res.coulombic_efficiency_frac[:n], float)})


def recipe_of(params: dict) -> Recipe:
    """The simulator's Recipe from a dict in the recipe vocabulary's names (extra keys ignored; a blank protocol
    value takes the Recipe's default)."""
    return Recipe(**{c: params[c] if c == "process" else float(params[c])
                     for c in RECIPE if params.get(c) is not None})


def virtual_lab(n_cycles: int = 300, seed: int = 0, retention_cycles: Sequence[int] = (300,),
                noise: bool = True, lab: LabConstants = LabConstants()) -> Lab:
    """A lab that makes and tests each recipe in the virtual lab ``lab`` (default: the seed's; others from
    `virtual_lab.variants.variant(k)`) for ``n_cycles`` (a fresh seed per cell)."""
    rng = np.random.default_rng(seed)

    def run(recipes: Sequence[dict]) -> pl.DataFrame:
        rows = []
        for params in recipes:
            res = simulate(recipe_of(params), n_cycles, seed=int(rng.integers(2**63 - 1)), noise=noise, lab=lab)
            rows.append(life_row(res, retention_cycles))
        return frame_of(rows)
    return run


FRAME_SCHEMA = {**{c: pl.String if c == "process" else pl.Float64 for c in RECIPE + MICROSTRUCTURE},
                "cycles_tested": pl.Int64, "cycles_to_80": pl.Int64, "censored_80": pl.Boolean,
                "cycles_to_70": pl.Int64, "censored_70": pl.Boolean, "cycles_to_50": pl.Int64,
                "censored_50": pl.Boolean, "short_cycle": pl.Int64, "initial_areal_capacity_mah_cm2": pl.Float64,
                "last_retention_frac": pl.Float64, "test_ended": pl.Boolean}


def frame_of(rows: Sequence[dict]) -> pl.DataFrame:
    """Rows -> a cell frame with the canonical column types (extra `retention_N` columns as floats)."""
    schema = dict(FRAME_SCHEMA)
    for row in rows:
        schema.update({k: pl.Float64 for k in row if k not in schema})
    return pl.DataFrame([{k: row.get(k) for k in schema} for row in rows], schema=schema)


def objective_value(res: CellResult, objective: str) -> float:
    """The true (noise-free when ``res`` is) value of an objective for a simulated cell."""
    if objective.startswith("delivered_capacity:"):
        n = int(objective.split(":")[1])
        if n > len(res.retention_frac):
            raise ValueError(f"simulate at least {n} cycles for {objective}")
        return float(res.areal_capacity_mah_cm2 * res.retention_frac[n - 1])
    if objective == "areal_capacity":
        return float(res.areal_capacity_mah_cm2)
    if objective == "cycle_life":
        return float(res.cycles_to_80 or len(res.retention_frac))
    raise ValueError(f"unknown objective {objective!r}")


def fill_proposals(proposals_csv, folder, *, seed: int = 0, n_cycles: int = 300,
                   lab: LabConstants = LabConstants()):
    """Play the lab for a `cathode propose --out` file (or any cells.csv with recipes): make and test each row in
    the virtual lab ``lab`` and write folder/cells.csv (the rows with measured microstructure and masses, `proposal_id`
    kept) and folder/cycles.csv, ready for `cathode ingest`. Returns the two paths; a bad row writes nothing."""
    import csv
    from pathlib import Path

    from virtual_lab.lab import ELECTRODE_AREA_CM2, ELECTROLYTE, VOLTAGE_MIN_V
    # cell_id and every recipe value (to make a cell it must choose a densification), each within BOUNDS
    rows = read_recipes(Path(proposals_csv), required=("cell_id",) + RECIPE, within=BOUNDS).to_dicts()
    rng = np.random.default_rng(seed)
    cells, cycles = [], []
    for row in rows:
        res = simulate(recipe_of(row), n_cycles, seed=int(rng.integers(2**63 - 1)), lab=lab)
        cells.append({**row, "voltage_min_v": VOLTAGE_MIN_V, "porosity_frac": res.measured_porosity_frac,
                      "active_area_frac": res.measured_active_area_frac, "active_mass_mg": res.active_mass_mg,
                      "electrode_area_cm2": ELECTRODE_AREA_CM2, "electrolyte": ELECTROLYTE,
                      "source": source(seed)})
        cycles += [{"cell_id": row["cell_id"], "cycle_index": n + 1,
                    "discharge_capacity_mah_g": float(res.discharge_capacity_mah_g[n]),
                    "charge_capacity_mah_g": float(res.charge_capacity_mah_g[n]),
                    "end_of_test": res.end_of_test(n + 1)} for n in range(res.tested_cycles)]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / "cells.csv", folder / "cycles.csv"
    for path, data in zip(paths, (cells, cycles)):
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(data[0]) if data else ["cell_id"], lineterminator="\n")
            writer.writeheader()
            writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in data)
    return paths

