"""Campaigns on real lakes: propose -> fill in -> ingest -> propose closes the loop; bad inputs write nothing;
workers share a real PostgreSQL study."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import optuna
import polars as pl
import pytest

from lake import store
from lake.recipe import STEP
from optimizer import campaign, study as studies
from optimizer.acquisition import MAX_P_DEATH, RECOMMEND_RISK, TRUST_CENTRES, fit_surrogates, predict_objectives, recipe_frame, recommend, suggest
from virtual_lab.labs import fill_proposals, objective_value, recipe_of, virtual_lab
from optimizer.objectives import parse, targets_of
from virtual_lab.lab import simulate
from optimizer.space import BENCHMARK_SPACE
from tests.conftest import PROJECT, lake_state


def _journal_trials(root, name):
    st = optuna.load_study(study_name=name, storage=studies.storage(root))
    return st.get_trials(deepcopy=False)


def test_the_loop_closes_on_the_demo_lake(cli, demo, tmp_path):
    """Issue 6 'done when': propose, fill p.csv and a cycles.csv from the virtual lab, ingest, propose again."""
    p_csv = tmp_path / "p.csv"
    v0 = store.lake_version(demo)
    code, out, err = cli("--lake", demo, "propose", "--n", "4", "--objective", "delivered_capacity:300",
                         "--out", p_csv, "--seed", "1")
    assert code == 0, err
    assert "4 proposals recorded" in out and "delivered_capacity:300" in out
    first = store.query(demo, "SELECT * FROM proposals ORDER BY proposal_id").to_pylist()
    assert len(first) == 4 and {p["status"] for p in first} == {"proposed"}
    for p in first:                                       # recipe, prediction + interval, provenance
        preds = json.loads(p["predictions_json"])["delivered_capacity:300"]
        assert p["predicted_lo"] <= p["predicted_mean"] <= p["predicted_hi"] == preds["hi"]
        assert p["acquisition"] is not None and p["model_id"] and p["lake_version"] == v0 + 1
        assert p["study_name"] == "cathode-delivered_capacity-300" and p["trial_number"] is not None
    model_ids = first[0]["model_id"].split(",")           # one GP per target: areal capacity, loss at 300
    assert store.query(demo, "SELECT count(*) AS n FROM models WHERE model_id IN (SELECT unnest(?))",
                       [model_ids])["n"][0].as_py() == len(model_ids) == 2
    form = pl.read_csv(p_csv)
    assert form["proposal_id"].to_list() == [p["proposal_id"] for p in first]
    # Written at the precision a lab makes a recipe with (lake.recipe.STEP), the same numbers the lake recorded.
    text = p_csv.read_text()
    for name, step in STEP.items():
        decimals = max(0, -int(np.floor(np.log10(step) + 1e-9)))
        assert all(round(v, decimals) == v for v in form[name].to_list()), (name, form[name].to_list())
        assert form[name].to_list() == [p[name] for p in first]
    assert "47.902316900233494" not in text and all(len(x) <= 6 for x in text.replace("\n", ",").split(",")
                                                     if x.replace(".", "").isdigit())

    code, out, err = cli("--lake", demo, "virtual-lab", p_csv, "--out", tmp_path / "lab", "--seed", "5")
    assert code == 0 and "next: cathode" in out, err
    cells, cycles = tmp_path / "lab" / "cells.csv", tmp_path / "lab" / "cycles.csv"
    assert pl.read_csv(cells)["proposal_id"].to_list() == form["proposal_id"].to_list()
    code, out, err = cli("--lake", demo, "ingest", cells, cycles)
    assert code == 0, out + err
    done = store.query(demo, "SELECT proposal_id, status, result_cell_id FROM proposals").to_pylist()
    assert {d["status"] for d in done} == {"done"} and all(d["result_cell_id"] == d["proposal_id"] for d in done)

    code, out, err = cli("--lake", demo, "propose", "--n", "4", "--objective", "delivered_capacity:300",
                         "--seed", "2")
    assert code == 0, err
    assert "told 4 results" in out
    second = store.query(demo, "SELECT * FROM proposals WHERE lake_version = ?", [v0 + 3]).to_pylist()
    assert len(second) == 4
    key = ("process", "loading_mg_cm2", "densification_frac", "eca_wt_frac", "temperature_c")
    assert {tuple(p[k] for k in key) for p in second}.isdisjoint({tuple(p[k] for k in key) for p in first})
    trials = _journal_trials(demo, "cathode-delivered_capacity-300")
    states = [t.state for t in trials]
    assert states.count(optuna.trial.TrialState.RUNNING) == 4            # the second batch, waiting for the lab
    assert states.count(optuna.trial.TrialState.COMPLETE) >= 40 + 4      # warm start + the told batch

    code, out, err = cli("--lake", demo, "best", "--objective", "delivered_capacity:300", "--top", "2")
    assert code == 0 and "posterior mean" in out and "replicate" in out and "2." in out, err
    assert out.count("dies before cycle 300: ") == 2                       # the model's P(death) per recipe


def test_best_marks_censored_measurements(cli, demo):
    """The demo's longest-lived cells were still above 80 % when their 300-cycle tests ended: their cycle life is a
    lower bound, shown as such, and a posterior mean beyond it is said to extrapolate."""
    censored = store.query(demo, "SELECT count(*) AS n FROM cell_life WHERE censored_80")["n"][0].as_py()
    code, out, err = cli("--lake", demo, "best", "--objective", "cycle_life")
    assert censored > 0 and code == 0, err
    assert "measured ≥ 300" in out and "every cell of this recipe is censored" in out


def test_the_virtual_lab_command_names_a_bad_row_and_writes_nothing(cli, tmp_path):
    bad = tmp_path / "p.csv"
    bad.write_text("cell_id,process,loading_mg_cm2,densification_frac,eca_wt_frac,temperature_c,voltage_max_v,"
                   "c_rate\nA,in_situ_polymerized,12.7,0.7,0.05,60,4.2,0.1\nB,in_situ_polymerized,99,0.7,0.05,60,4.2,"
                   "0.1\n")
    code, _, err = cli("virtual-lab", bad, "--out", tmp_path / "lab")
    assert code == 1 and "p.csv, row 3" in err and "loading_mg_cm2" in err
    assert not (tmp_path / "lab").exists()
    bad.write_text("cell_id,process,loading_mg_cm2\nA,in_situ_polymerized,12.7\n")
    code, _, err = cli("virtual-lab", bad, "--out", tmp_path / "lab")
    assert code == 1 and "densification_frac" in err and not (tmp_path / "lab").exists()


def test_status_changes(cli, demo):
    cli("--lake", demo, "propose", "--n", "2", "--objective", "cycle_life", "--seed", "3")
    pid = store.query(demo, "SELECT min(proposal_id) AS p FROM proposals")["p"][0].as_py()
    other = store.query(demo, "SELECT max(proposal_id) AS p FROM proposals")["p"][0].as_py()
    code, out, _ = cli("--lake", demo, "proposals", "accept", pid)
    assert code == 0 and "proposed -> accepted" in out
    assert cli("--lake", demo, "proposals", "reject", pid, "--note", "binder ran out")[0] == 0
    before = lake_state(demo)
    for args, message, exit_code in ((("accept", pid), "is rejected; it cannot become accepted", 1),
                                     (("accept", "P9999-01"), "no such proposal", 1),
                                     (("accept",), "needs a proposal id", 2)):         # a usage error
        code, _, err = cli("--lake", demo, "proposals", *args)
        assert code == exit_code and message in err
    assert lake_state(demo) == before
    code, out, _ = cli("--lake", demo, "proposals", "--status", "rejected")
    assert pid in out and other not in out
    note = store.query(demo, "SELECT note FROM proposal_events WHERE status = 'rejected'")["note"][0].as_py()
    assert note == "binder ran out"


def test_an_empty_lake_gets_a_space_filling_batch(cli, lake, tmp_path):
    code, out, err = cli("--lake", lake, "propose", "--n", "6", "--fix", "temperature_c=60", "--out",
                         tmp_path / "p.csv")
    assert code == 0, err
    assert "0 cells with a recipe and cycles" in out and "space-filling" in out
    rows = store.query(lake, "SELECT * FROM proposals").to_pylist()
    assert len(rows) == 6 and {r["kind"] for r in rows} == {"space_filling"}
    assert all(r["predicted_mean"] is None and r["temperature_c"] == 60 for r in rows)
    assert len({r["process"] for r in rows}) == 3                          # spread over every process


@pytest.mark.parametrize("args, message", [
    (("--bounds", "loading_mg_cm2=25:10"), "low is above high"),
    (("--fix", "temperature_c=120"), "outside its bounds"),
    (("--fix", "colour=blue"), "unknown parameter"),
    (("--objective", "lifetime"), "unknown objective"),
    (("--n", "0"), "positive integer"),
])
def test_bad_propose_inputs_write_nothing(cli, demo, args, message):      # usage errors: exit 2
    before = lake_state(demo)
    code, _, err = cli("--lake", demo, "propose", *args)
    assert code == 2 and message in err and err.count("\n") == 1
    assert lake_state(demo) == before
    assert store.query(demo, "SELECT count(*) AS n FROM proposal_records")["n"][0].as_py() == 0


def test_ingesting_an_unknown_proposal_id_is_rejected(cli, demo, tmp_path):
    form = tmp_path / "p.csv"
    pl.DataFrame({"cell_id": ["X1"], "proposal_id": ["P0042-01"], "process": ["in_situ_polymerized"],
                  "loading_mg_cm2": [12.7], "eca_wt_frac": [0.05], "temperature_c": [60.0],
                  "voltage_max_v": [4.2], "c_rate": [0.1], "densification_frac": [0.7]}).write_csv(form)
    cells, cycles = fill_proposals(form, tmp_path / "lab", n_cycles=20)
    before = lake_state(demo)
    code, out, err = cli("--lake", demo, "ingest", cells, cycles)
    assert code == 1 and "unknown proposal" in err and "P0042-01" in err and "row 2" in err
    after = lake_state(demo)
    assert {k: v for k, v in after.items()} == before


def test_a_failed_propose_commit_leaves_the_lake_unchanged_and_fails_its_trials(cli, demo):
    (demo / "artifacts").write_text("a file where the model folder should go")
    before = lake_state(demo)
    code, _, err = cli("--lake", demo, "propose", "--n", "2", "--objective", "cycle_life", "--seed", "4")
    assert code == 1 and "cannot write the model file" in err
    assert lake_state(demo) == before
    trials = _journal_trials(demo, "cathode-cycle_life")
    asked = [t for t in trials if "proposal_id" in t.user_attrs]
    assert len(asked) == 2 and all(t.state == optuna.trial.TrialState.FAIL for t in asked)


def test_the_same_loop_runs_in_memory_on_the_virtual_lab():
    objectives = parse("delivered_capacity:300")
    warm = [{"process": "in_situ_polymerized", "loading_mg_cm2": 12.7, "densification_frac": 0.79,
             "eca_wt_frac": 0.05, "temperature_c": 60.0, "voltage_max_v": 4.2, "c_rate": 0.1},
            {"process": "cold_calendered", "loading_mg_cm2": 12.7, "densification_frac": 0.59,
             "eca_wt_frac": 0.05, "temperature_c": 60.0, "voltage_max_v": 4.2, "c_rate": 0.1}] * 2
    for method in campaign.METHODS:
        hist = campaign.run(virtual_lab(300, seed=1), BENCHMARK_SPACE, objectives, rounds=2, batch=2,
                            warm=warm, method=method, seed=1, recommend_with=lambda f: f.row(0, named=True))
        assert hist.frame.height == 4 + 4 and len(hist.recommended) == 2
        assert set(hist.frame["round"].to_list()) == {-1, 0, 1}


def test_delivered_capacity_near_the_optimum_is_not_biased_low():
    """Issue 6's diagnosis: read off cycles-to-80/70/50 % anchors, the delivered capacity of the lab's best recipes
    came out ~30 % low (their 50 % anchor is censored at the 300-cycle test). Modelled as areal capacity x the loss
    measured at 300, 30 noisy cells around the optimum predict it within 15 % (10 % while the features carried the
    simulator's own ECA optimum and cracking onset; learnt from the cells instead, 13 % low at this peak)."""
    rng = np.random.default_rng(0)
    best = {"process": "in_situ_polymerized", "loading_mg_cm2": 23.9, "densification_frac": 0.65,
            "eca_wt_frac": 0.05, "temperature_c": 69.0, "voltage_max_v": 4.2, "c_rate": 0.1}
    near = [{**best, "loading_mg_cm2": rng.uniform(16, 30), "densification_frac": rng.uniform(0.5, 0.8),
             "eca_wt_frac": rng.uniform(0.03, 0.07), "temperature_c": rng.uniform(50, 80)} for _ in range(30)]
    frame = virtual_lab(300, seed=2)(near)
    objectives = parse("delivered_capacity:300")
    surrogates = fit_surrogates(frame, targets_of(objectives))
    predicted = predict_objectives(surrogates, objectives, [best])[0]["delivered_capacity:300"]["mean"]
    truth = objective_value(simulate(recipe_of(best), 300, noise=False), "delivered_capacity:300")
    assert predicted == pytest.approx(truth, rel=0.15)


def test_a_batch_searches_a_trust_region_around_the_best_recipes():
    """Every slot is expected improvement over candidates near the best measured recipes (same process), and the
    kriging believer keeps the batch's recipes apart."""
    objectives = parse("delivered_capacity:300")
    rng = np.random.default_rng(1)
    frame = virtual_lab(300, seed=1)(BENCHMARK_SPACE.random(24, rng))
    chosen, surrogates = suggest(frame, BENCHMARK_SPACE, objectives, 4, rng=rng)
    ranked = recommend(frame, surrogates, objectives)
    assert [s.kind for s in chosen] == ["explore"] * 4 and all(s.acquisition >= 0 for s in chosen)
    top_processes = {r["recipe"]["process"] for r in ranked[:TRUST_CENTRES]}
    assert {s.params["process"] for s in chosen} <= top_processes
    u, _ = BENCHMARK_SPACE.unit_of(recipe_frame([s.params for s in chosen]))
    gaps = np.linalg.norm(u[:, None] - u[None], axis=-1)[np.triu_indices(4, 1)]
    assert gaps.min() > 0.01



def test_best_ranks_what_its_model_thinks_likely_dead_last():
    """Issue 14: the recommendation is never a recipe the model gives a high chance of dying before cycle N; the
    others rank by the pessimistic belief (mean less RECOMMEND_RISK sds)."""
    objectives = parse("delivered_capacity:300")
    frame = virtual_lab(300, seed=4)(BENCHMARK_SPACE.random(24, np.random.default_rng(4)))
    ranked = recommend(frame, fit_surrogates(frame, targets_of(objectives)), objectives)
    dying = [r["p_death"] > MAX_P_DEATH for r in ranked]
    assert any(dying) and not dying[0] and dying == sorted(dying)
    alive = [r["belief"] - RECOMMEND_RISK * r["belief_sd"] for r, d in zip(ranked, dying) if not d]
    assert alive == sorted(alive, reverse=True)
    assert all(0 <= r["p_death"] <= 1 and r["belief_sd"] >= 0 for r in ranked) and ranked[0]["belief_sd"] > 0


WORKER = """
import sys
from optimizer import campaign, study as studies
from virtual_lab.labs import virtual_lab
from optimizer.objectives import parse
from optimizer.space import BENCHMARK_SPACE
objectives = parse("delivered_capacity:300")
st = studies.open_study(studies.storage(None, sys.argv[1]), "shared", objectives)
told = campaign.worker(st, virtual_lab(300, seed=int(sys.argv[2])), BENCHMARK_SPACE, objectives, rounds=2, batch=2,
                       seed=int(sys.argv[2]), name=sys.argv[2])
print(told)
"""


@pytest.mark.slow
def test_two_worker_processes_share_a_postgresql_study(postgres_url):
    objectives = parse("delivered_capacity:300")
    st = studies.open_study(studies.storage(None, postgres_url), "shared", objectives)
    lab = virtual_lab(300, seed=0)
    for params in BENCHMARK_SPACE.latin_hypercube(6, __import__("numpy").random.default_rng(0)):
        trial = studies.ask(st, params, {"kind": "warm"})
        studies.tell(st, trial, objectives, lab([trial.params]))
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, postgres_url, str(i)], cwd=PROJECT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in (1, 2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert [int(o.strip().splitlines()[-1]) for o, _ in outs] == [4, 4]
    trials = st.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 6 + 8 and len({t.number for t in trials}) == len(trials)
    assert {t.user_attrs.get("worker") for t in done} == {None, "1", "2"}
    assert all("outcome" in t.user_attrs for t in done)
    assert studies.completed_frame(st).height == 14


@pytest.mark.slow
def test_propose_with_a_postgresql_storage(cli, demo, postgres_url):
    code, out, err = cli("--lake", demo, "propose", "--n", "2", "--objective", "cycle_life", "--storage",
                         postgres_url, "--study", "lab-a", "--seed", "5")
    assert code == 0, err
    st = optuna.load_study(study_name="lab-a", storage=postgres_url)
    assert len([t for t in st.get_trials() if "proposal_id" in t.user_attrs]) == 2
    assert not (demo / studies.JOURNAL).exists()
    code, _, err = cli("--lake", demo, "propose", "--storage", "redis://x")
    assert code == 1 and "unsupported --storage" in err
