"""Issue 14 step 5: the loop `cathode propose` runs, through a real lake, still beats random search on labs it was
not tuned on (two report-set variants; a quick cut of `bench/generalization.py --part optimizer`). Fixed seeds:
the same code gives the same verdict. About 10 s: a few seconds per variant.
On the day it was written the loop's best recipe and recommendation beat even the best of the five random campaigns
(101: 2.89 and 2.89 mAh/cm2 against 2.55 / 2.36; 102: 2.80 and 2.63 against 2.24 / 2.24); the test asks only that
they beat the median one."""
from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest

from bench.lake_loop import lake_campaign
from optimizer import campaign
from optimizer.acquisition import MAX_P_DEATH
from optimizer.objectives import parse
from optimizer.space import BENCHMARK_SPACE
from virtual_lab import variants
from virtual_lab.lab import seed_recipes
from virtual_lab.labs import virtual_lab

OBJECTIVE, ROUNDS, BATCH, RANDOM_SEEDS = "delivered_capacity:300", 3, 4, 5
RECIPE_KEYS = ("process", "loading_mg_cm2", "densification_frac", "eca_wt_frac", "temperature_c")


def _true(recipe: dict, lab) -> float:
    return variants.true_value({c: recipe[c] for c in RECIPE_KEYS}, lab)


def _random(lab, seed: int) -> tuple[float, float]:
    """Random search from the seed's four cells: (true value of the best recipe tried, of the best measured)."""
    hist = campaign.run(virtual_lab(300, seed=seed, lab=lab), BENCHMARK_SPACE, parse(OBJECTIVE), rounds=ROUNDS,
                        batch=BATCH, warm=[asdict(r) for r in seed_recipes(lab).values()], method="random",
                        seed=seed, recommend_with=lambda f: f.row(int(np.nanargmax(np.nan_to_num(
                            parse(OBJECTIVE)[0].observed(f)[0], nan=-1.0))), named=True))
    return max(_true(r, lab) for r in hist.frame.to_dicts()), _true(hist.recommended[-1], lab)


@pytest.mark.parametrize("k", variants.REPORT[:2])
def test_the_lake_loop_beats_random_search_on_an_unseen_variant(k):
    lab = variants.variant(k)
    made, recommended, p_death = lake_campaign(lab, BENCHMARK_SPACE, OBJECTIVE, ROUNDS, BATCH, seed=0)
    tried, chosen = max(_true(r, lab) for r in made), _true(recommended[-1], lab)
    rand = np.array([_random(lab, s) for s in range(RANDOM_SEEDS)])
    assert tried > np.median(rand[:, 0]) and chosen > np.median(rand[:, 1]), (tried, chosen, rand.tolist())
    assert p_death[-1] <= MAX_P_DEATH           # `best` does not recommend what its model thinks likely dead
