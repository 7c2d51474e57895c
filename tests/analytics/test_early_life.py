"""Early-life features, one definition: `cathode derive` and the models' early-life model read the same numbers."""
from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from analytics import cycling, early_life
from models.early import DEFAULT_N, early_features
from virtual_lab.labs import cycles_rows
from virtual_lab.lab import Recipe, simulate


def test_derive_and_models_share_the_window_and_the_features():
    res = simulate(Recipe("hot_calendered", 12.0, 0.5, 0.05, 60.0, 4.2, 0.1), 120, seed=4)
    rows = cycles_rows("A", res)
    table = pa.table({"cycle_index": rows["cycle_index"].to_numpy(),
                      "discharge_capacity_mah_g": res.discharge_capacity_mah_g[:res.last_cycle],
                      "coulombic_efficiency_frac": rows["coulombic_efficiency_frac"].to_numpy()})
    assert DEFAULT_N == early_life.EARLY_CYCLES
    stored = cycling.summary(table)                         # what `cathode derive` stores, default N
    model = early_features(rows, DEFAULT_N).to_dicts()[0]    # what the early-life model reads
    assert stored["early_cycles"] == DEFAULT_N
    assert model["early_ce_loss"] == pytest.approx(math.log10(1 - stored["early_mean_coulombic_efficiency_frac"]))
    ret = rows["retention_frac"].to_numpy()
    assert model["early_fade"] == pytest.approx(math.log10(1 - ret[DEFAULT_N - 1]))


def test_cells_short_of_n_cycles_get_no_features():
    got = early_life.features(np.arange(1, 11), np.linspace(1, 0.95, 10), np.full(10, 0.99), n=20)
    assert not got["complete"] and got["early_cycles"] == 10
    assert got["early_mean_coulombic_efficiency_frac"] == pytest.approx(0.99)
