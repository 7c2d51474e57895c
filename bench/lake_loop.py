"""The project's optimizer as the CLI runs it, with a real lake in between, for bench/generalization.py:
`cathode propose --out p.csv` -> `cathode virtual-lab p.csv` (the variant plays the lab) -> `cathode ingest` ->
... and `cathode best` as the recommendation after each round. Library calls, not subprocesses: the same
functions the commands call, without the interpreter start-up per command."""
from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path

import polars as pl

from ingest.pipeline import ingest
from lake import store
from optimizer.proposals import best, propose
from virtual_lab.labs import fill_proposals
from virtual_lab.lab import LabConstants, seed_recipes

RECIPE = tuple(asdict(seed_recipes()["PCA"]))            # the recipe's fields, in Recipe's order


def lake_campaign(lab: LabConstants, space, objective: str, rounds: int, batch: int, seed: int
                  ) -> tuple[list[dict], list[dict], list[float | None]]:
    """(every recipe made, with `round`: -1 for the seed's four cells), (the `best` recipe after each round), (the
    model's probability that a cell of that recipe dies before cycle N)."""
    made, recommended, p_death = [], [], []
    with tempfile.TemporaryDirectory(prefix="cathode-lake-loop-") as tmp:
        tmp = Path(tmp)
        root = tmp / "lake"
        store.init(root)                                  # `cathode init`
        warm = [{"cell_id": f"SEED-{i}", **asdict(r)} for i, r in enumerate(seed_recipes(lab).values())]
        pl.DataFrame(warm).write_csv(tmp / "seed.csv")
        forms = [(tmp / "seed.csv", -1)]
        for r in range(-1, rounds):
            if r >= 0:
                form = tmp / f"p{r}.csv"
                propose(root, batch, objective, space, seed=seed * 1000 + r, out=form)
                forms.append((form, r))
            form, rnd = forms[-1]
            cells, cycles = fill_proposals(form, tmp / f"lab{rnd}", seed=seed * 1000 + rnd + 1, lab=lab)
            outcomes = ingest(root, [cells, cycles], progress=False)
            if any(o.status == "rejected" for o in outcomes):
                raise RuntimeError(f"lake loop: ingest rejected a file: {outcomes}")
            made += [{**{c: row[c] for c in RECIPE}, "round": rnd} for row in pl.read_csv(form).to_dicts()]
            if r >= 0:
                rows, _ = best(root, objective)
                recommended.append(rows[0]["recipe"])
                p_death.append(rows[0]["p_death"])
    return made, recommended, p_death
