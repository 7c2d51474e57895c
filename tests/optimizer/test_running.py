"""Campaigns in lab time: cells still on the cycler are learnt from through their first cycles, `propose` says what
it relied on, and the campaign's rule (`--after-cycles`) refuses to propose too early without writing anything."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import polars as pl
import pytest

from ingest.pipeline import ingest
from lake import store
from lake.errors import InputError
from models.early import cycles_frame
from models.features import cell_frame, target, target_values
from optimizer import running
from optimizer.objectives import parse, with_extrapolated_loss
from optimizer.proposals import best, propose
from virtual_lab.lab import write_templates

OBJECTIVE, CUT = "delivered_capacity:100", 60


def _lake_with_running_cells(root, tmp_path, n_cells: int, n_running: int):
    """n_cells virtual-lab cells tested for 100 cycles; n_running of those that lived past CUT cycles are still
    cycling: their cycles.csv stops at CUT, without end_of_test. Returns the running ids and the held-back rows."""
    cells, cycles = write_templates(tmp_path / "inputs", n_cells, seed=5, n_cycles=100)
    cyc = pl.read_csv(cycles, schema_overrides={"end_of_test": pl.String})
    long = cyc.group_by("cell_id").agg(pl.len().alias("n")).filter(pl.col("n") >= 100)["cell_id"].sort()
    ids = long[-n_running:].to_list()
    held = pl.col("cell_id").is_in(ids) & (pl.col("cycle_index") > CUT)
    cyc.filter(~held).write_csv(cycles)
    outcomes = ingest(root, [cells, cycles], progress=False)
    assert [o.status for o in outcomes] == ["ingested", "ingested"]
    return ids, cyc.filter(held)


@pytest.fixture
def half_run(lake, tmp_path):
    ids, rest = _lake_with_running_cells(lake, tmp_path, 60, 4)
    return lake, ids, rest


def test_the_lake_says_which_tests_have_ended(half_run, tmp_path):
    root, ids, rest = half_run
    life = store.query(root, "SELECT cell_id, test_ended FROM cell_life").to_pylist()
    assert {r["cell_id"] for r in life if not r["test_ended"]} == set(ids)
    assert sum(running.running(cell_frame(root))) == len(ids)
    rest.write_csv(tmp_path / "rest.csv")                                # the tests run on to their end
    assert ingest(root, [tmp_path / "rest.csv"], progress=False)[0].status == "ingested"
    assert store.query(root, "SELECT bool_and(test_ended) AS all_ended FROM cell_life").to_pylist()[0]["all_ended"]
    assert not running.running(cell_frame(root)).any()


def test_running_cells_are_read_from_their_first_cycles(half_run):
    root, ids, _ = half_run
    frame = cell_frame(root, (100,))
    learnt, reliance = running.sharpen(frame, cycles_frame(root), ("initial_areal_capacity", "retention_100"))
    assert (reliance.finished, reliance.running) == (56, 4)
    (early,) = reliance.early_life
    assert early.target == "retention_100" and early.cycles == 50 and early.predicted == 4
    assert early.cells >= running.MIN_CELLS
    tgt = target("retention_100")
    y0, cens0, _ = target_values(with_extrapolated_loss(frame, ("retention_100",)), tgt)
    y1, cens1, _ = target_values(learnt, tgt)
    live = frame["cell_id"].is_in(ids).to_numpy()
    assert cens0[live].all() and not cens1[live].any()                   # bounds became predictions ...
    assert (y1[live] >= y0[live] - 1e-12).all()                           # ... never below what was measured
    np.testing.assert_array_equal(y1[~live], y0[~live])                  # finished cells as measured


def test_propose_records_what_it_relied_on(half_run):
    root, ids, _ = half_run
    batch = propose(root, 2, OBJECTIVE, seed=0)
    assert any("learnt from 56 finished and 4 running cells" in n for n in batch.notes)
    rows = store.query(root, "SELECT finished_cells, running_cells, early_life_trusted, reliance_json "
                             "FROM proposals").to_pylist()
    assert len(rows) == 2 and {(r["finished_cells"], r["running_cells"]) for r in rows} == {(56, 4)}
    record = json.loads(rows[0]["reliance_json"])
    assert record["early_life"][0]["cycles"] == 50
    assert rows[0]["early_life_trusted"] == record["early_life"][0]["trusted"]
    assert {c for c, _ in batch.not_worth_running} <= set(ids)
    assert all(p < running.STOP_BELOW for _, p in batch.not_worth_running)
    top, _ = best(root, OBJECTIVE)
    assert top[0]["reliance"].running == 4
    listed = subprocess.run([sys.executable, "-m", "app.cli", "--lake", str(root), "proposals"], capture_output=True,
                            text=True)
    assert listed.returncode == 0 and listed.stdout.count("56 finished, 4 running; early-life") == 2


def test_too_few_finished_cells_leave_running_cells_as_bounds(lake, tmp_path):
    ids, _ = _lake_with_running_cells(lake, tmp_path, 20, 4)
    frame = cell_frame(lake, (100,))
    ran = frame.filter(pl.col("cycles_tested") >= 25)
    assert ids and ran.height - len(ids) < running.MIN_CELLS           # too few finished cells ran 25 cycles
    learnt, reliance = running.sharpen(frame, cycles_frame(lake), ("retention_100",))
    assert reliance.running == len(ids) and reliance.early_life == ()
    assert "lower bounds only" in reliance.describe()
    _, cens, _ = target_values(learnt, target("retention_100"))
    assert cens[frame["cell_id"].is_in(ids).to_numpy()].all()


def test_the_campaign_rule_refuses_to_propose_early_and_writes_nothing(half_run):
    root, ids, _ = half_run
    version = store.query(root, "SELECT max(lake_version) AS v FROM commits").to_pylist()[0]["v"]
    with pytest.raises(InputError, match="fewer cycles than the campaign waits for") as err:
        propose(root, 2, OBJECTIVE, seed=0, after_cycles=CUT + 1)
    assert ids[0] in str(err.value) and f"{CUT} cycles" in str(err.value)
    assert store.query(root, "SELECT max(lake_version) AS v FROM commits").to_pylist()[0]["v"] == version
    assert store.query(root, "SELECT count(*) AS n FROM proposals").to_pylist()[0]["n"] == 0
    campaign = root.parent / "campaign.toml"                         # the rule written in the campaign file
    campaign.write_text(f"objective = '{OBJECTIVE}'\nafter_cycles = {CUT + 1}\n")
    cli = subprocess.run([sys.executable, "-m", "app.cli", "--lake", str(root), "propose", "--campaign", str(campaign)],
                         capture_output=True, text=True)
    assert cli.returncode == 1 and "Traceback" not in cli.stderr
    assert "--after-cycles" in cli.stderr and "propose again later" in cli.stderr
    assert store.query(root, "SELECT count(*) AS n FROM proposals").to_pylist()[0]["n"] == 0


def test_a_running_cell_that_cannot_win_is_not_worth_its_channel(half_run):
    root, ids, _ = half_run
    frame = cell_frame(root, (100,))
    a, b = ids[:2]
    areal = dict(zip(frame["cell_id"], frame["initial_areal_capacity_mah_cm2"]))
    # a will lose ~90 % of its capacity by cycle 100, b ~1 %; the best believed recipe delivers half of b's
    predicted = ({"cell_id": a, "target": "retention_100", "mean": np.log10(0.9), "sd": 0.05},
                 {"cell_id": b, "target": "retention_100", "mean": np.log10(0.01), "sd": 0.05})
    reliance = running.Reliance(56, 4, (), predicted)
    objective = parse(OBJECTIVE)[0]
    stops = running.not_worth_running(frame, reliance, objective, incumbent=0.5 * areal[b])
    assert [c for c, _ in stops] == ([a] if areal[a] * 0.1 < 0.5 * areal[b] else [])
    assert all(p < running.STOP_BELOW for _, p in stops)
    assert running.not_worth_running(frame, reliance, parse("cycle_life")[0], 1.0) == []


def test_best_ranks_recipes_of_just_started_cells_last(lake, tmp_path):
    """Cells five cycles into their test (no early-life reading yet) are bounds only: `best` names a recipe on what
    its cells showed, and ranks the just-started ones after every recipe with a finished or read cell."""
    cells, cycles = write_templates(tmp_path / "inputs", 24, seed=5, n_cycles=100)
    cyc = pl.read_csv(cycles, schema_overrides={"end_of_test": pl.String})
    # the four longest-lived cells: the ones a model would most like, had it seen them finish
    last = cyc.group_by("cell_id").agg(pl.col("discharge_capacity_mah_g").last().alias("q"), pl.len().alias("n"))
    young = last.sort(["n", "q"], descending=True)["cell_id"][:4].to_list()
    cyc.filter(~pl.col("cell_id").is_in(young) | (pl.col("cycle_index") <= 5)).write_csv(cycles)
    assert [o.status for o in ingest(lake, [cells, cycles], progress=False)] == ["ingested", "ingested"]
    frame = cell_frame(lake, (100,))
    _, reliance = running.sharpen(frame, cycles_frame(lake), ("initial_areal_capacity", "retention_100"))
    assert running.unread(frame, reliance) == set(young)
    rows, _ = best(lake, OBJECTIVE, top=100)
    only_young = [all(c in young for c in r["cells"]) for r in rows]
    assert sum(only_young) == 4 and only_young == sorted(only_young)      # all four, and after every other recipe
    assert not only_young[0]
