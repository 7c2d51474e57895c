"""Lithium shorts modelled apart from fade: the lake's short_cycle makes a short a failure the surrogate learns
(P(short | recipe) mixed with the fade model), and the GP `cathode propose` fits records calibrated intervals."""
from __future__ import annotations

import numpy as np
import polars as pl

from models.features import target
from models.short import ShortModel, short_features
from models.surrogate import Surrogate
from optimizer.acquisition import fit_surrogates
from virtual_lab.lab import Recipe, random_recipes, simulate
from virtual_lab.labs import frame_of, life_row

PROTOCOL = dict(densification_frac=0.6, eca_wt_frac=0.05, temperature_c=60.0, voltage_max_v=4.2)


def _cells(recipes, seed: int, n_cycles: int = 400) -> tuple[pl.DataFrame, list]:
    results = [simulate(r, n_cycles, seed=seed * 1000 + i) for i, r in enumerate(recipes)]
    return frame_of([life_row(r) for r in results]), results


def _high_and_low_current(n: int, seed: int) -> list[Recipe]:
    """Half the cells thick and fast (a lithium anode cannot carry that current), half thin and slow."""
    rng = np.random.default_rng(seed)
    return [Recipe("in_situ_polymerized", float(rng.uniform(24, 30)) if i % 2 else float(rng.uniform(5, 14)),
                   c_rate=float(rng.uniform(0.4, 0.5)) if i % 2 else float(rng.uniform(0.05, 0.15)), **PROTOCOL)
            for i in range(n)]


def test_a_shorted_cell_is_a_failure_the_surrogate_learns_apart_from_fade():
    train, results = _cells(_high_and_low_current(40, 1), 1)
    shorted = np.array([r.ended_by_short for r in results])
    assert 5 <= shorted.sum() <= 35                       # the lab shorted the fast thick cells
    assert (train["short_cycle"].is_not_null().to_numpy() == shorted).all()
    assert not train.filter(pl.Series(shorted))["censored_80"].any()        # a failure, not a test that stopped
    model = Surrogate(kind="gp").fit(train, target("cycles_to_80"))
    assert model.short_.n_shorts_ == shorted.sum()
    assert model.oof_["censored"][shorted].all()          # to the fade model a short is a lower bound
    test, test_res = _cells(_high_and_low_current(40, 2), 2, 4000)      # to the end of life
    assert not test["censored_80"].any()
    pred = model.predict(test, 0.9)
    fast = np.array([i % 2 == 1 for i in range(40)])
    assert pred["p_short"][fast].mean() > 0.7 and pred["p_short"][~fast].mean() < 0.15
    truth = np.log10(test["cycles_to_80"].to_numpy().astype(float))
    ended = np.array([r.ended_by_short for r in test_res])
    inside = lambda p: (p["lo"] <= truth) & (truth <= p["hi"])      # noqa: E731
    assert inside(pred).mean() >= 0.75 and inside(pred)[ended].mean() >= 0.85     # the shorts' cycles are covered
    # a lake that does not know how tests ended sees a short as a test that stopped (censored at its last cycle
    # with a capacity): the shorts are never learnt, and predicted to fade
    was_short = pl.col("short_cycle").is_not_null()
    blind = Surrogate(kind="gp").fit(train.with_columns(
        pl.when(was_short).then(pl.col("short_cycle") - 1).otherwise(pl.col("cycles_to_80")).alias("cycles_to_80"),
        (pl.col("censored_80") | was_short).alias("censored_80"), pl.lit(None).alias("short_cycle")),
        target("cycles_to_80"))
    unaware = blind.predict(test, 0.9)
    assert blind.short_.n_shorts_ == 0 and not unaware["p_short"].any() and inside(unaware)[ended].mean() <= 0.2
    err = lambda p: np.sqrt(np.mean((p["mean"][ended] - truth[ended]) ** 2))      # noqa: E731
    assert err(pred) < 0.5 * err(unaware)


def test_short_model_reads_recipes_only_and_needs_a_short():
    frame, _ = _cells(_high_and_low_current(6, 3), 3)
    assert np.isfinite(short_features(frame)).all() and short_features(frame).shape[0] == 6
    one = ShortModel().fit(frame, np.arange(6) == 0, np.zeros(6))
    assert one.classifier_ is not None
    none = ShortModel().fit(frame, np.zeros(6, bool), np.zeros(6))
    assert none.classifier_ is None and not none.probability(frame).any()


def test_propose_surrogates_record_calibrated_intervals():
    """The GP `cathode propose` fits (CV+ with refitted folds): its 90 % intervals hold for ~90 % of new cells."""
    train, _ = _cells(random_recipes(60, 5), 5, 400)
    test, _ = _cells(random_recipes(150, 6), 6, 4000)
    test = test.filter(~pl.col("censored_80"))
    model = fit_surrogates(train, ["cycles_to_80"])["cycles_to_80"]
    pred = model.predict(test, 0.9)
    truth = np.log10(test["cycles_to_80"].to_numpy().astype(float))
    assert 0.85 <= np.mean((pred["lo"] <= truth) & (truth <= pred["hi"])) <= 0.98
