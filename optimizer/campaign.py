"""Closed-loop campaigns: propose -> make and test -> learn, with any lab.

A lab is any function `recipes -> outcomes` (a cell frame, one row per recipe): the virtual lab
(`virtual_lab.labs.virtual_lab`), or, asynchronously, a real lab whose results come back through `cathode ingest`
(`optimizer.proposals.propose` is that loop's "propose" step). `run` drives a whole campaign in memory (the
benchmark); `worker` drives one worker of a campaign shared through an Optuna storage (several processes or
machines on one PostgreSQL study); both use the same `acquisition.suggest`.
`propose` / `set_status` / `best` (the lake side) are re-exported here for callers that look for them.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from optimizer.acquisition import MIN_OBSERVATIONS, fit_surrogates, recommend, suggest
from optimizer.objectives import Objective, targets_of
from optimizer.space import Space
from optimizer import study as studies

METHODS = ("model", "random", "lhs")


@dataclass
class History:
    """What a campaign did: every measured cell (column `round`, -1 for the warm start) and, after each round,
    the recipe the method recommends."""
    frame: pl.DataFrame
    recommended: list[dict] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def run(lab: Callable[[list[dict]], pl.DataFrame], space: Space, objectives: list[Objective], *, rounds: int,
        batch: int, warm: list[dict] = (), method: str = "model", seed: int = 0, replicates: int = 0,
        recommend_with: Callable[[pl.DataFrame], dict] | None = None) -> History:
    """Run ``rounds`` batches of ``batch`` recipes. ``method``: model (GP + expected improvement), random, lhs.
    The recommendation after each round is the measured recipe with the best posterior mean (model), or what
    ``recommend_with(frame)`` returns (baselines)."""
    import time
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    rng = np.random.default_rng(seed)
    frame = lab(list(warm)).with_columns(pl.lit(-1).alias("round")) if warm else pl.DataFrame()
    hist = History(frame)
    lhs = space.latin_hypercube(rounds * batch, rng) if method == "lhs" else []
    surrogates = None
    for r in range(rounds):
        t0 = time.perf_counter()
        if method == "model":
            if hist.frame.height >= MIN_OBSERVATIONS and surrogates is None:
                surrogates = fit_surrogates(hist.frame, targets_of(objectives))
            chosen, _ = suggest(hist.frame, space, objectives, batch, rng=rng, surrogates=surrogates,
                                replicates=replicates)
            params = [s.params for s in chosen]
        elif method == "random":
            params = space.random(batch, rng)
        else:
            params = lhs[r * batch:(r + 1) * batch]
        hist.seconds.append(time.perf_counter() - t0)
        new = lab(params).with_columns(pl.lit(r).alias("round"))
        hist.frame = pl.concat([hist.frame, new], how="diagonal_relaxed") if hist.frame.height else new
        if method == "model":
            surrogates = fit_surrogates(hist.frame, targets_of(objectives), previous=surrogates)
            hist.recommended.append(recommend(hist.frame, surrogates, objectives)[0]["recipe"])
        elif recommend_with is not None:
            hist.recommended.append(recommend_with(hist.frame))
    return hist


def worker(study, lab: Callable[[list[dict]], pl.DataFrame], space: Space, objectives: list[Objective], *,
           rounds: int, batch: int, seed: int = 0, name: str = "") -> int:
    """One worker of a shared study: learn from every result told so far (by any worker), believe every recipe
    still pending, ask ``batch`` trials, evaluate them with ``lab``, tell. Returns the trials it told."""
    rng = np.random.default_rng(seed)
    told = 0
    for _ in range(rounds):
        frame = studies.completed_frame(study)
        pending = studies.pending_recipes(study)
        chosen, _ = suggest(frame, space, objectives, batch, rng=rng, pending=pending)
        trials = [studies.ask(study, s.params, {"kind": s.kind, "worker": name}) for s in chosen]
        params = [{k: t.params[k] for k in s.params} for t, s in zip(trials, chosen)]
        outcomes = lab(params)
        for i, t in enumerate(trials):
            studies.tell(study, t, objectives, outcomes[i])
            told += 1
    return told


def __getattr__(name: str):
    """`propose`, `set_status`, `best`: the lake side lives in optimizer.proposals (imported on first use)."""
    if name in ("propose", "set_status", "best"):
        from optimizer import proposals
        return getattr(proposals, name)
    raise AttributeError(name)


