"""Issue 14: a missing optional recipe value is still data. A lake whose best cells did not report their
densification (as the seed paper's) learns from them in `propose` and can recommend them in `best`."""
from __future__ import annotations

import polars as pl
import pytest

from ingest.pipeline import ingest
from lake import store
from optimizer.proposals import best, propose
from virtual_lab.lab import write_templates


@pytest.fixture
def unreported(lake, tmp_path):
    """24 virtual-lab cells (100 cycles); the three with the largest areal capacity lose their densification."""
    cells, cycles = write_templates(tmp_path / "inputs", 24, seed=3, n_cycles=100)
    frame = pl.read_csv(cells)
    ingest(lake, [cells, cycles], progress=False)                     # a first lake only to rank the cells
    life = store.query(lake, "SELECT cell_id, initial_areal_capacity_mah_cm2 AS a FROM cell_life "
                             "ORDER BY a DESC LIMIT 3").to_pylist()
    ids = [r["cell_id"] for r in life]
    fresh = store.init(tmp_path / "lake2")
    frame.with_columns(pl.when(pl.col("cell_id").is_in(ids)).then(None).otherwise(pl.col("densification_frac"))
                       .alias("densification_frac")).write_csv(cells)
    assert [o.status for o in ingest(fresh, [cells, cycles], progress=False)] == ["ingested", "ingested"]
    return fresh, ids


def test_best_recommends_the_cells_without_densification(unreported):
    root, ids = unreported
    rows, _ = best(root, "areal_capacity", top=3)
    assert set(rows[0]["cells"]) <= set(ids)
    assert rows[0]["recipe"]["densification_frac"] is None                  # the recipe stays as reported
    assert 0 <= rows[0]["imputed"]["densification_frac"] <= 1               # the value the model used


def test_propose_learns_from_the_cells_without_densification(unreported):
    root, ids = unreported
    batch = propose(root, 2, "areal_capacity", seed=0)
    assert len(batch.rows) == 2 and all(r["densification_frac"] is not None for r in batch.rows)
    (model,) = store.query(root, "SELECT n_cells FROM models").to_pylist()
    assert model["n_cells"] == 24                                            # the three unreported cells too
