"""`cathode train` / `cathode predict` on real lakes: provenance in the registry, bad inputs, nothing written on
failure."""
from __future__ import annotations

import json

import polars as pl

from lake import store
from lake.recipe import REQUIRED
from virtual_lab.lab import write_templates
from tests.conftest import CELLS_HEADER, CYCLES_HEADER, GOOD_CELLS, good_cycles, lake_state, write_csv

RECIPES = ["cell_id,process,loading_mg_cm2,densification_frac,eca_wt_frac,temperature_c,voltage_max_v,c_rate",
           "R1,in_situ_polymerized,12.7,0.7,0.05,60,4.2,0.1",
           "R2,cold_calendered,20,0.3,0.05,60,4.2,0.1",
           "R3,hot_calendered,12.7,0.7,0.05,150,4.2,0.1",
           "R4,in_situ_polymerized,60,0.7,0.05,60,4.2,0.1"]


def test_train_then_predict_on_the_demo_lake(cli, demo, tmp_path):
    version = store.lake_version(demo)
    code, out, err = cli("--lake", demo, "train")
    assert code == 0, err
    assert "RMSE" in out and "coverage" in out and "cycles_to_80" in out and "initial_areal_capacity" in out
    models = store.query(demo, "SELECT * FROM models ORDER BY model_id").to_pylist()
    assert {m["estimator"] for m in models} >= {"early_life"} and len(models) == 3
    for m in models:                                     # provenance: what it saw, with what, how well
        assert m["trained_on_version"] == version and m["lake_version"] == version + 1
        assert json.loads(m["features_json"]) and m["n_cells"] >= 8
        metrics = json.loads(m["metrics_json"])
        assert {"rmse", "interval_coverage_90", "cv_scheme", "n_censored"} <= set(metrics)
        assert {"numpy", "scikit-learn", "python"} <= set(json.loads(m["library_versions_json"]))
        assert (demo / m["artifact_path"]).is_file()
    life = next(m for m in models if m["target"] == "cycles_to_80" and m["estimator"] != "early_life")
    assert json.loads(life["metrics_json"])["n_censored"] > 0          # censored cells used, as bounds

    recipes = tmp_path / "recipes.csv"
    recipes.write_text("\n".join(RECIPES) + "\n")
    out_csv = tmp_path / "preds.csv"
    code, out, err = cli("--lake", demo, "predict", recipes, "--out", out_csv)
    assert code == 0, err
    preds = pl.read_csv(out_csv)
    assert preds.columns[:8] == RECIPES[0].split(",")
    assert {"cycles_to_80_pred", "cycles_to_80_lo", "cycles_to_80_hi", "extrapolation"} <= set(preds.columns)
    assert (preds["cycles_to_80_lo"] <= preds["cycles_to_80_pred"]).all()
    assert (preds["cycles_to_80_pred"] <= preds["cycles_to_80_hi"]).all()
    assert preds["extrapolation"].to_list() == [False, False, True, True]   # 150 degC, loading 60
    code, out, _ = cli("--lake", demo, "predict", recipes, "--target", "initial_areal_capacity", "--level", "0.5")
    assert code == 0 and "initial_areal_capacity_pred" in out and "2 rows outside" in out


def test_registry_keeps_each_models_lake_version(cli, demo, tmp_path):
    cli("--lake", demo, "train", "--target", "cycles_to_80", "--early", "0", "--estimator", "gp")
    first = store.query(demo, "SELECT model_id, trained_on_version FROM models").to_pylist()[0]
    # Same cells, same options: training again keeps the model and writes nothing; --force trains anew.
    version = store.lake_version(demo)
    code, out, _ = cli("--lake", demo, "train", "--target", "cycles_to_80", "--early", "0", "--estimator", "gp")
    assert code == 0 and "kept them, nothing written" in out and first["model_id"] in out
    assert store.lake_version(demo) == version
    cells, cycles = write_templates(tmp_path / "more", 10, seed=99)
    cells.write_text(cells.read_text().replace("VL-", "VX-"))
    cycles.write_text(cycles.read_text().replace("VL-", "VX-"))
    assert cli("--lake", demo, "ingest", cells, cycles)[0] == 0
    seen = store.lake_version(demo)
    cli("--lake", demo, "train", "--target", "cycles_to_80", "--early", "0", "--estimator", "gp")
    rows = store.query(demo, "SELECT model_id, trained_on_version, n_cells FROM models "
                             "ORDER BY trained_on_version").to_pylist()
    assert [r["trained_on_version"] for r in rows] == [first["trained_on_version"], seen]
    assert rows[1]["n_cells"] == rows[0]["n_cells"] + 10
    recipes = tmp_path / "r.csv"
    recipes.write_text("\n".join(RECIPES[:2]) + "\n")
    code, out, err = cli("--lake", demo, "predict", recipes, "--model", first["model_id"])
    assert code == 0 and first["model_id"] in out, err
    version = store.lake_version(demo)
    code, out, _ = cli("--lake", demo, "train", "--target", "cycles_to_80", "--early", "0", "--estimator", "gp",
                       "--force")
    assert code == 0 and "kept them" not in out and store.lake_version(demo) == version + 1


def test_too_few_cells_names_the_count_and_writes_nothing(cli, lake, tmp_path):
    cells = write_csv(tmp_path / "cells.csv", CELLS_HEADER, GOOD_CELLS)
    cycles = write_csv(tmp_path / "cycles.csv", CYCLES_HEADER, good_cycles())
    cli("--lake", lake, "ingest", cells, cycles)
    before = lake_state(lake)
    code, out, err = cli("--lake", lake, "train")
    # both cells lack densification_frac (optional): they count, the model imputes it
    assert code == 1 and "too few cells" in err and "2 of 2 cells" in err and "at least 8" in err
    assert "lack a recipe value" not in err
    assert lake_state(lake) == before and not (lake / "artifacts").exists()
    code, _, err = cli("--lake", lake, "train", "--target", "cycle_life")
    assert code == 1 and "unknown target" in err and "retention_N" in err


def test_a_target_no_cell_has(cli, lake, tmp_path):
    """Cycles in mAh without an active mass: no specific capacity, so no initial areal capacity anywhere."""
    cells, cycles = write_templates(tmp_path / "t", 10, seed=3)
    cells_df = pl.read_csv(cells).drop("active_mass_mg")
    cycles_df = pl.read_csv(cycles).rename({"discharge_capacity_mah_g": "discharge_capacity_mah"}).drop(
        "charge_capacity_mah_g", "coulombic_efficiency_frac")
    cells_df.write_csv(cells)
    cycles_df.write_csv(cycles)
    assert cli("--lake", lake, "ingest", cells, cycles)[0] == 0
    before = lake_state(lake)
    code, _, err = cli("--lake", lake, "train", "--target", "initial_areal_capacity")
    assert code == 1 and "0 of 10 cells have it" in err
    assert lake_state(lake) == before


def test_predict_bad_inputs(cli, demo, tmp_path):
    code, _, err = cli("--lake", demo, "predict", tmp_path / "none.csv")
    assert code == 1 and "none.csv" in err
    recipes = tmp_path / "r.csv"
    recipes.write_text("\n".join(RECIPES[:2]) + "\n")
    code, _, err = cli("--lake", demo, "predict", recipes)
    assert code == 1 and "no model for 'cycles_to_80'" in err and "cathode train" in err
    cli("--lake", demo, "train", "--target", "cycles_to_80", "--early", "0", "--estimator", "gp")
    recipes.write_text("\n".join(line.rsplit(",", 1)[0] for line in RECIPES[:2]) + "\n")   # no c_rate
    code, _, err = cli("--lake", demo, "predict", recipes)
    assert code == 1 and "column 'c_rate'" in err and "missing required column" in err
    recipes.write_text(RECIPES[0] + "\nR1,in_situ_polymerized,thick,0.7,0.05,60,4.2,0.1\n")
    code, _, err = cli("--lake", demo, "predict", recipes)
    assert code == 1 and "row 2" in err and "loading_mg_cm2" in err and "'thick'" in err
    recipes.write_text(RECIPES[0] + "\nR1,in_situ_polymerized,12.7,0.7,0.05,60,4.2,0.1\nR2,spray_coated,12.7,0.7,"
                       "0.05,60,4.2,0.1\n")                          # the cells.csv rules: a known process
    code, _, err = cli("--lake", demo, "predict", recipes)
    assert code == 1 and "row 3, column 'process'" in err and "'spray_coated'" in err


def test_predict_needs_only_the_required_cells_csv_columns(cli, demo, tmp_path):
    """densification_frac is optional in cells.csv, so a recipes file with exactly the required columns predicts;
    the imputed densification is flagged."""
    cli("--lake", demo, "train", "--target", "cycles_to_80", "--early", "0", "--estimator", "gp")
    recipes = write_csv(tmp_path / "r.csv", list(REQUIRED), [["R1", "in_situ_polymerized", 12.7, 0.05, 60, 4.2, 0.1],
                                                             ["R2", "cold_calendered", 20, 0.05, 60, 4.2, 0.1]])
    code, _, err = cli("--lake", demo, "predict", recipes, "--out", tmp_path / "p.csv")
    assert code == 0, err
    preds = pl.read_csv(tmp_path / "p.csv")
    assert preds["recipe_imputed"].to_list() == [True, True] and (preds["cycles_to_80_pred"] > 0).all()
    assert (preds["cycles_to_80_lo"] <= preds["cycles_to_80_hi"]).all()


def test_a_failed_training_commit_leaves_the_lake_unchanged(cli, demo):
    (demo / "artifacts").write_text("a file where the model folder should go")   # the artifact cannot be written
    before = lake_state(demo)
    code, _, err = cli("--lake", demo, "train", "--target", "cycles_to_80", "--early", "0", "--estimator", "gp")
    assert code == 1 and "cannot write the model file" in err and "nothing was committed" in err
    assert lake_state(demo) == before
    assert store.query(demo, "SELECT count(*) AS n FROM models")["n"][0].as_py() == 0


def test_predict_under_test_from_the_first_cycles(cli, demo, tmp_path):
    """The lab's running cells: cycle life from their first 50 cycles, never below what they have already done, and
    flagged where they outlive every cell the model saw die (the demo tests 300 cycles; its longest lives end there)."""
    code, _, err = cli("--lake", demo, "train", "--target", "cycles_to_80", "--estimator", "gp")
    assert code == 0, err
    out_csv = tmp_path / "running.csv"
    code, out, err = cli("--lake", demo, "predict", "--under-test", "--out", out_csv)
    assert code == 0, err
    preds = pl.read_csv(out_csv)
    running = store.query(demo, "SELECT cell_id FROM cell_life WHERE censored_80 AND cycles_tested >= 50 "
                                "ORDER BY cell_id")["cell_id"].to_pylist()
    assert preds["cell_id"].to_list() == running and len(running) >= 3
    assert (preds["cycles_to_80_lo"] >= preds["cycles_tested"]).all()
    assert ((preds["cycles_to_80_lo"] <= preds["cycles_to_80_pred"])
            & (preds["cycles_to_80_pred"] <= preds["cycles_to_80_hi"])).all()
    longest = store.query(demo, "SELECT max(cycles_to_80) AS n FROM cell_life WHERE NOT censored_80")["n"][0]
    assert preds["beyond_measured_life"].to_list() == (preds["cycles_to_80_hi"] > longest.as_py()).to_list()
    assert f"{preds['beyond_measured_life'].sum()} cells reach past the longest life" in out
    code, _, err = cli("--lake", demo, "predict", "--under-test", tmp_path / "x.csv")
    assert code == 2 and "either a cells.csv-shaped FILE or --under-test" in err


def test_predict_under_test_without_an_early_life_model(cli, demo):
    cli("--lake", demo, "train", "--target", "cycles_to_80", "--early", "0", "--estimator", "gp")
    before = lake_state(demo)
    code, _, err = cli("--lake", demo, "predict", "--under-test")
    assert code == 1 and "no early-life model in the lake" in err
    assert lake_state(demo) == before
