"""The project's optimizer as the CLI runs it, with a real lake in between, for bench/generalization.py:
`cathode propose --out p.csv` -> `cathode virtual-lab p.csv` (the variant plays the lab) -> `cathode ingest` ->
... and `cathode best` as the recommendation after each round. Library calls, not subprocesses: the same
functions the commands call, without the interpreter start-up per command. The pieces (`new_lake`,
`ingest_files`, `recommendation`) also serve bench/lab_time.py, which plays the lab's clock."""
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


def new_lake(folder: Path, lab: LabConstants) -> tuple[Path, Path]:
    """(a new lake in folder/lake, the seed's four cells as a cells.csv-shaped form folder/seed.csv)."""
    root = folder / "lake"
    store.init(root)                                      # `cathode init`
    warm = [{"cell_id": f"SEED-{i}", **asdict(r)} for i, r in enumerate(seed_recipes(lab).values())]
    pl.DataFrame(warm).write_csv(folder / "seed.csv")
    return root, folder / "seed.csv"


def ingest_files(root: Path, paths) -> None:
    """`cathode ingest`; a rejected file stops the benchmark (the lab's files are always valid)."""
    outcomes = ingest(root, list(paths), progress=False)
    if any(o.status == "rejected" for o in outcomes):
        raise RuntimeError(f"lake loop: ingest rejected a file: {outcomes}")


def recommendation(root: Path, objective: str) -> tuple[dict, float | None, list[str]]:
    """`cathode best`'s top recipe, the model's probability that a cell of it dies before cycle N, and the running
    cells `best` says are not worth their channel."""
    rows, _ = best(root, objective)
    return rows[0]["recipe"], rows[0]["p_death"], [c for c, _ in rows[0]["not_worth_running"]]


def lake_campaign(lab: LabConstants, space, objective: str, rounds: int, batch: int, seed: int
                  ) -> tuple[list[dict], list[dict], list[float | None]]:
    """(every recipe made, with `round`: -1 for the seed's four cells), (the `best` recipe after each round), (the
    model's probability that a cell of that recipe dies before cycle N)."""
    made, recommended, p_death = [], [], []
    with tempfile.TemporaryDirectory(prefix="cathode-lake-loop-") as tmp:
        tmp = Path(tmp)
        root, seed_form = new_lake(tmp, lab)
        forms = [(seed_form, -1)]
        for r in range(-1, rounds):
            if r >= 0:
                form = tmp / f"p{r}.csv"
                propose(root, batch, objective, space, seed=seed * 1000 + r, out=form)
                forms.append((form, r))
            form, rnd = forms[-1]
            ingest_files(root, fill_proposals(form, tmp / f"lab{rnd}", seed=seed * 1000 + rnd + 1, lab=lab))
            made += [{**{c: row[c] for c in RECIPE}, "round": rnd} for row in pl.read_csv(form).to_dicts()]
            if r >= 0:
                recipe, death, _ = recommendation(root, objective)
                recommended.append(recipe)
                p_death.append(death)
    return made, recommended, p_death
