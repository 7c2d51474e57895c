"""Choosing the next batch: GP surrogates per target, Monte-Carlo expected improvement in a trust region,
kriging-believer batches.

Every slot of a batch maximises expected improvement of the objective over the best *posterior mean* among measured
recipes (samples of every target's latent GP pushed through the objective, so composite objectives such as areal
capacity x retention are handled exactly), over candidates drawn in a trust region: Gaussian moves (sd
TRUST_REGION of each range) around the TRUST_CENTRES measured recipes with the best posterior mean, same process;
the best candidates are then refined by smaller moves. After each slot the GPs are conditioned on the chosen
recipe at its predicted mean (kriging believer, a constant-liar variant): the next slot sees that region as
explored and goes elsewhere, which makes the batch diverse. Recipes already pending (asked, not yet told, e.g. by
another worker) are believed the same way first. Two or more objectives: each slot scalarises them with random
Chebyshev weights (ParEGO), so a batch spreads along the Pareto front.
Why a trust region (issue 6, delivered_capacity:300 on the virtual lab): with candidates drawn over the whole space,
EI spent about half of each batch on far corners (30 mg/cm2, no ECA, fully densified) where the posterior is wide
and the areal capacity large, and the slots that maximised the posterior mean ("greedy", half of each batch) kept
remaking the region the model already believed best. Why a wide one (issue 14, tuning variants 1-10, 6 campaigns
each, 4 seed cells + 6 batches of 4, medians over variants): at sd 0.10 of each range the campaign crept from the
seed's recipes and stalled on labs whose optimum lay far from them (regret of the best recipe tried after 24
experiments 5.8 %, of the recommendation 9.2 %); at 0.30 3.0 % / 5.1 % (3 campaigns each: 0.2-0.6 all within a
point of that, 1.0 worse at 12 experiments); uniform whole-space candidates added to the narrow region made it worse,
as did five centres instead of three. A knob the warm-start cells never varied (the seed's four all ran at 60 °C
and 5 % ECA) stays uncertain in the GPs (models.gp `prior_scale`): before, the GPs dropped it and took the first
batch's four recipes, which differed only in temperature and ECA, for one (tuning variants, 6 campaigns each: best
tried at 24 experiments 3.0 % -> 2.2 %, recommendation at 12 12.3 % -> 10.4 %, at 24 5.1 % -> 5.0 %). The
``greedy`` argument still makes the first slots maximise the posterior mean (over the whole space) instead.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl
from scipy.stats import norm
from threadpoolctl import threadpool_limits

from lake.recipe import RECIPE, RECIPE_OPTIONAL, has_recipe
from models.features import target
from models.surrogate import Surrogate
from optimizer.objectives import DEATH, Objective, targets_of, with_extrapolated_loss
from optimizer.space import Space

MIN_OBSERVATIONS = 4        # below this a model is not worth asking: the batch is space-filling
N_SAMPLES = 96
MEASURED = False            # campaigns use recipe-imputed microstructure (a proposal has no measurement yet)
PHYSICS = True
EXPLOIT_RISK = 0.0          # greedy slots maximise mean - EXPLOIT_RISK * sd
TRUST_REGION = 0.30         # sd of the candidates' moves around the centres, as a fraction of each range
RECOMMEND_RISK = 0.0        # `best` ranks by posterior mean - RECOMMEND_RISK * posterior sd (tuning set: 1 sd helped
                            # with the former surrogate, not with the one that models shorts apart) ...
MAX_P_DEATH = 0.5           # ... after every recipe the model gives a higher chance of dying before cycle N
TRUST_CENTRES = 3           # measured recipes with the best posterior mean the candidates are drawn around


@dataclass
class Suggestion:
    params: dict
    kind: str                                   # exploit | explore | replicate | space_filling
    acquisition: float | None = None
    predictions: dict = field(default_factory=dict)   # objective -> {"mean", "lo", "hi"}


def recipe_frame(recipes: list[dict]) -> pl.DataFrame:
    return pl.DataFrame({c: [r.get(c) for r in recipes] for c in RECIPE},
                        schema={c: (pl.String if c == "process" else pl.Float64) for c in RECIPE})


def fit_surrogates(frame: pl.DataFrame, targets, previous: dict | None = None, seed: int = 0) -> dict:
    """One GP surrogate per target, warm-started from ``previous`` hyperparameters; the intervals it records are
    CV+ from refitted fold GPs (the surrogate's own rule), so they hold as often as they say."""
    out = {}
    frame = with_extrapolated_loss(frame, targets)
    for name in targets:
        prev = (previous or {}).get(name)
        theta0 = None
        if prev is not None and getattr(prev, "kind", None) == "gp" and prev.physics == PHYSICS:
            theta0 = prev.latent_model.theta_      # MaternGP ignores it if the feature count changed
        out[name] = Surrogate(kind="gp", random_state=seed, theta0=theta0,
                              measured=MEASURED, physics=PHYSICS).fit(frame, target(name))
    return out


class Posterior:
    """Latent GP posteriors of the targets at candidate recipes, with kriging-believer conditioning."""

    def __init__(self, surrogates: dict[str, Surrogate]):
        self.surrogates = surrogates
        self.gps = {t: s.latent_model for t, s in surrogates.items()}
        self._key = {t: s.feature_key() for t, s in surrogates.items()}

    def features(self, frame: pl.DataFrame) -> dict[str, np.ndarray]:
        """Each target's feature matrix, computed once per distinct featurizer (targets fitted on the same cells
        share one)."""
        cache, out = {}, {}
        for t, s in self.surrogates.items():
            if self._key[t] not in cache:
                cache[self._key[t]] = s.features(frame)
            out[t] = cache[self._key[t]]
        return out

    def latent(self, frame: pl.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {t: self.gps[t].predict(X, return_std=True, include_noise=False)
                for t, X in self.features(frame).items()}

    def samples(self, frame: pl.DataFrame, eps: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {t: mu[None, :] + sd[None, :] * eps[t][:, None] for t, (mu, sd) in self.latent(frame).items()}

    def believe(self, frame: pl.DataFrame) -> None:
        for t, X in self.features(frame).items():
            self.gps[t] = self.gps[t].condition(X, self.gps[t].predict(X))


def _values(objectives: list[Objective], draws: dict[str, np.ndarray]) -> np.ndarray:
    """(n_objectives, n_samples, n_points) on each objective's search scale."""
    return np.stack([o.search_scale(o.combine(draws)) for o in objectives])


def _score(values: np.ndarray, weights: np.ndarray | None, ref: tuple[np.ndarray, np.ndarray] | None):
    if weights is None:
        return values[0]
    lo, span = ref
    g = (values - lo[:, None, None]) / span[:, None, None]
    w = weights[:, None, None]
    return np.min(w * g, axis=0) + 0.05 * np.sum(w * g, axis=0)


def suggest(frame: pl.DataFrame, space: Space, objectives: list[Objective], n: int, *,
            rng: np.random.Generator, pending: list[dict] = (), replicates: int = 0, greedy: int = 0,
            surrogates: dict | None = None, n_candidates: int = 1024) -> tuple[list[Suggestion], dict]:
    """``n`` recipes to make next, given the measured cells in ``frame``; returns them and the surrogates used."""
    observed = frame.filter(has_recipe())
    if surrogates is None:
        if observed.height < MIN_OBSERVATIONS:
            return [Suggestion(p, "space_filling") for p in space.latin_hypercube(n, rng)], {}
        surrogates = fit_surrogates(observed, targets_of(objectives))
    with threadpool_limits(1, "blas"):
        return _batch(observed, space, objectives, n, rng, list(pending), replicates, greedy, surrogates,
                      n_candidates), surrogates


def _batch(observed, space, objectives, n, rng, pending, replicates, greedy, surrogates, n_candidates):
    post = Posterior(surrogates)
    eps = {t: rng.standard_normal(N_SAMPLES) for t in surrogates}
    obs_vals = _values(objectives, post.samples(observed, eps)).mean(axis=1)      # (n_obj, n_obs)
    ref = (obs_vals.min(axis=1), np.maximum(np.ptp(obs_vals, axis=1), 1e-6))
    # a measured recipe with a blank optional value (a paper's cell without densification) is a trust-region
    # centre or a replicate at the value the model imputes for it
    filled, _ = next(iter(surrogates.values())).complete(observed)
    obs_recipes = [space.complete({c: filled[c][i] for c in RECIPE}) for i in range(filled.height)]
    if pending:
        post.believe(recipe_frame(pending))
    out: list[Suggestion] = []
    for rep in _replicates(obs_recipes, obs_vals, objectives, ref, replicates, space):
        out.append(Suggestion(rep, "replicate"))
        post.believe(recipe_frame([rep]))
    chosen: list[dict] = []
    while len(out) < n:
        weights = rng.dirichlet(np.ones(len(objectives))) if len(objectives) > 1 else None
        obs_score = _score(obs_vals[:, None, :], weights, ref)[0]
        best_obs = obs_score.max() if obs_score.size else -np.inf
        top = [obs_recipes[i] for i in np.argsort(-obs_score)[:5] if space.contains(obs_recipes[i])]
        exploit = len(chosen) < greedy
        crit = (lambda c: _mean_score(post, objectives, c, eps, weights, ref, EXPLOIT_RISK)) if exploit else \
            (lambda c: _ei(post, objectives, c, eps, weights, ref, best_obs))
        if exploit or not top:          # no measured recipe inside the space: nothing to centre a region on
            cands = pl.concat([space.random_frame(n_candidates, rng),
                               _local(space, recipe_frame(top + chosen[-2:]), rng, 96, 0.08)])
        else:
            cands = _local(space, recipe_frame(top[:TRUST_CENTRES]), rng, 300, TRUST_REGION)
        acq = crit(cands)
        refine = _local(space, cands[np.argsort(-acq)[:4]], rng, 48, 0.02)
        cands, acq = pl.concat([cands, refine]), np.r_[acq, crit(refine)]
        i = int(np.argmax(acq))
        pick = space.complete(cands.row(i, named=True))
        chosen.append(pick)
        value = _ei(post, objectives, recipe_frame([pick]), eps, weights, ref, best_obs)[0] if exploit else acq[i]
        out.append(Suggestion(pick, "exploit" if exploit else "explore", float(value)))
        post.believe(recipe_frame([pick]))
    preds = predict_objectives(surrogates, objectives, [s.params for s in out])
    for s, p in zip(out, preds):
        s.predictions = p
    return out


def _ei(post: Posterior, objectives, cands: pl.DataFrame, eps, weights, ref, best: float) -> np.ndarray:
    scores = _score(_values(objectives, post.samples(cands, eps)), weights, ref)
    return np.mean(np.maximum(scores - best, 0.0), axis=0)


def _mean_score(post: Posterior, objectives, cands, eps, weights, ref, risk: float = 0.0) -> np.ndarray:
    """Posterior mean of the (scalarised) objective, less ``risk`` posterior sds: the greedy slot's criterion."""
    if isinstance(cands, list):
        cands = recipe_frame(cands)
    scores = _score(_values(objectives, post.samples(cands, eps)), weights, ref)
    return scores.mean(axis=0) - risk * scores.std(axis=0) if risk else scores.mean(axis=0)


def _local(space: Space, centres: pl.DataFrame, rng, per: int, sd: float) -> pl.DataFrame:
    """Gaussian moves (sd in unit-cube coordinates) around each centre, same process."""
    if centres.height == 0 or not space.free:
        return centres.head(0)
    u, procs = space.unit_of(centres)
    moved = np.repeat(u, per, axis=0) + rng.normal(0, sd, (len(u) * per, u.shape[1]))
    return space.frame_from_unit(np.clip(moved, 0, 1), np.repeat(procs, per))


def _replicates(recipes, vals, objectives, ref, k: int, space: Space) -> list[dict]:
    """The top-k measured recipes by posterior mean (equal weights), if they have fewer than 3 replicates."""
    if k <= 0 or not recipes:
        return []
    weights = np.full(len(objectives), 1.0 / len(objectives)) if len(objectives) > 1 else None
    order = np.argsort(-_score(vals[:, None, :], weights, ref)[0])
    keys = [_key(r) for r in recipes]
    out = []
    for i in order:
        if len(out) == k:
            break
        if keys.count(keys[i]) < 3 and space.contains(recipes[i]) and recipes[i] not in out:
            out.append(recipes[i])
    return out


def _key(recipe: dict) -> tuple:
    return tuple(recipe[c] if c == "process" or recipe[c] is None else round(float(recipe[c]), 4) for c in RECIPE)


def predict_objectives(surrogates: dict, objectives: list[Objective], recipes: list[dict],
                       level: float = 0.9, seed: int = 0) -> list[dict]:
    """Mean and ``level`` interval of each objective for a measured outcome at each recipe: conformal intervals
    for one-target objectives, Monte-Carlo over calibrated predictive normals for composite ones."""
    if not recipes or not surrogates:
        return [{} for _ in recipes]
    frame = recipe_frame(recipes)
    rng = np.random.default_rng(seed)
    pred = {t: s.predict(frame, level) for t, s in surrogates.items()}
    out = [{} for _ in recipes]
    for o in objectives:
        if len(o.targets) == 1:
            p = pred[o.targets[0]]
            mean, lo, hi = (o.combine({o.targets[0]: p[k]}) for k in ("mean", "lo", "hi"))
        else:
            draws = {t: p["mean"][None, :] + p["sd"][None, :] * rng.standard_normal((2000, 1))
                     for t, p in pred.items()}
            vals = o.combine(draws)
            mean = vals.mean(axis=0)
            lo, hi = np.quantile(vals, [(1 - level) / 2, (1 + level) / 2], axis=0)
        for i in range(len(recipes)):
            out[i][o.name] = {"mean": float(mean[i]), "lo": float(lo[i]), "hi": float(hi[i])}
    return out


def recommend(frame: pl.DataFrame, surrogates: dict, objectives: list[Objective]) -> list[dict]:
    """Measured recipes ranked by the model's belief in the (first) objective (`_rank`), replicates pooled; each
    with its predicted interval, replicate count and measured values, `belief` / `belief_sd` (latent posterior mean
    and sd), `p_death` (the model's probability that a new cell dies before cycle N), and the value the model
    imputed for a blank optional recipe value (`imputed`; the recipe itself keeps it blank). Not the luckiest noisy
    cell: the model's belief. The ranking uses the latent (noise-free) posterior — the recipe's typical value —
    while the interval is for a new cell's measured outcome (noise included)."""
    observed = frame.filter(has_recipe())
    if observed.height == 0 or not surrogates:
        return []
    recipes = [{c: observed[c][i] for c in RECIPE} for i in range(observed.height)]
    filled, _ = next(iter(surrogates.values())).complete(observed)
    keys = [_key(r) for r in recipes]
    unique = list(dict.fromkeys(keys))
    first = [keys.index(k) for k in unique]
    preds = predict_objectives(surrogates, objectives, [recipes[i] for i in first])
    obj = objectives[0]
    eps = {t: np.random.default_rng(1).standard_normal(N_SAMPLES) for t in surrogates}
    scores = _score(_values([obj], Posterior(surrogates).samples(recipe_frame([recipes[i] for i in first]), eps)),
                    None, None)
    belief, spread = scores.mean(axis=0), scores.std(axis=0)
    dying = p_death(surrogates, obj, [recipes[i] for i in first])
    measured, bound = obj.observed(observed)
    ids = observed["cell_id"].to_list() if "cell_id" in observed.columns else [None] * observed.height
    rows = []
    for k, i, p, b, sd, pd in zip(unique, first, preds, belief, spread, dying):
        members = [j for j, kk in enumerate(keys) if kk == k]
        rows.append({"recipe": recipes[i], "prediction": p, "replicates": len(members), "belief": float(b),
                     "belief_sd": float(sd), "p_death": None if np.isnan(pd) else float(pd),
                     "imputed": {c: float(filled[c][i]) for c in RECIPE_OPTIONAL if recipes[i][c] is None},
                     "cells": [ids[j] for j in members], "measured": [float(measured[j]) for j in members],
                     "bound": [bool(bound[j]) for j in members]})
    rows.sort(key=_rank)
    return rows


def _rank(row: dict) -> tuple:
    """Recipes the model thinks likely dead before N last; the others by their belief (the posterior mean, less
    RECOMMEND_RISK sds when that is set: it prefers a recipe the model knows well over a neighbour it cannot tell
    apart)."""
    dying = row["p_death"] is not None and row["p_death"] > MAX_P_DEATH
    return dying, -(row["belief"] - RECOMMEND_RISK * row["belief_sd"])


def p_death(surrogates: dict, objective: Objective, recipes: list[dict]) -> np.ndarray:
    """The model's probability that a new cell of each recipe dies (retention below DEATH) before the objective's
    cycle N: its calibrated predictive normal of the loss at N (NaN for an objective without a cycle N)."""
    name = f"retention_{objective.n_cycles}"
    if objective.n_cycles is None or name not in surrogates:
        return np.full(len(recipes), np.nan)
    p = surrogates[name].predict(recipe_frame(recipes))
    return norm.sf((np.log10(1.0 - DEATH) - p["mean"]) / np.maximum(p["sd"], 1e-9))
