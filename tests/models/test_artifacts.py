"""Issue 15 item 1: a lake copied from someone else cannot run code through its model files. Models are stored as
skops files with an explicit list of trusted types, only under `<lake>/artifacts/models/`, sha256-checked; every
loader (predict, predict --under-test, propose's warm start) refuses anything else, and planted code never runs."""
from __future__ import annotations

import collections
import hashlib
import io
import json
import os
import pickle
import zipfile

import duckdb
import numpy as np
import pyarrow as pa
import pytest
import skops.io as sio

from lake import recipe, store
from lake.errors import LakeError
from models import artifacts, registry
from models.features import cell_frame
from optimizer.proposals import propose
from tests.models.test_registry import RECIPES


class Planted:
    """A pickle whose loading creates ``marker``: what a hostile lake would ship."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('ran')",)


@pytest.fixture(scope="module")
def fitted(demo_lakes):
    """A GP and a boosted-trees model fitted on the demo lake's cells (not registered)."""
    frame = cell_frame(demo_lakes.data).filter(recipe.has_recipe())
    return {kind: registry.fit_target(frame, "cycles_to_80", kinds=(kind,)).model for kind in ("gp", "gbt")}, frame


@pytest.mark.parametrize("kind", ["gp", "gbt"])
def test_a_fitted_model_round_trips_exactly(fitted, kind, tmp_path):
    models, frame = fitted
    model = models[kind]
    path = tmp_path / artifacts.FOLDER / f"m{artifacts.SUFFIX}"
    digest = artifacts.save(model, path)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert not path.read_bytes().startswith(b"\x80")                     # not a pickle: a zip of JSON and arrays
    back = artifacts.load(tmp_path, {"model_id": "m", "artifact_path": str(path.relative_to(tmp_path)),
                                     "artifact_sha256": digest})
    assert type(back) is type(model) and back is not model
    for level in (0.5, 0.9):
        got, want = back.predict(frame, level), model.predict(frame, level)
        assert set(got) == set(want)
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])            # bit for bit, not approximately
    assert back.cv_metrics_ == model.cv_metrics_ and back.feature_key() == model.feature_key()
    np.testing.assert_array_equal(back.oof_["mean"], model.oof_["mean"])


def test_save_refuses_a_type_the_loader_would_not_trust(fitted, tmp_path):
    model = fitted[0]["gp"]
    odd = type(model)(**model.get_params())
    odd.__dict__.update(model.__dict__, extra_=collections.OrderedDict(a=1))    # a new attribute, untrusted type
    with pytest.raises(LakeError, match=r"collections.OrderedDict, not among the trusted types"):
        artifacts.save(odd, tmp_path / "m.skops")
    assert not (tmp_path / "m.skops").exists() and not list(tmp_path.iterdir())


# ---------------------------------------------------------------- hostile lakes

@pytest.fixture
def trained(demo_full_copy):
    """The demo lake with its models (trained, registered) and the newest GP row for cycles_to_80."""
    rows = store.query(demo_full_copy, "SELECT * FROM models WHERE target = 'cycles_to_80' AND estimator = 'gp' "
                                       "ORDER BY trained_on_version DESC").to_pylist()
    assert rows and rows[0]["artifact_path"].endswith(".skops") and rows[0]["artifact_sha256"]
    return demo_full_copy, rows[0]


def plant(root, template: dict, model_id: str, path: str, sha256: str | None) -> None:
    """Register a models row that points at ``path``, newer than any other (the loaders' first choice)."""
    newest = store.query(root, "SELECT max(trained_on_version) AS v FROM models")["v"][0].as_py()
    row = {**template, "model_id": model_id, "artifact_path": path, "artifact_sha256": sha256,
           "trained_on_version": max(newest, store.lake_version(root)) + 1}
    row.pop("lake_version")
    with store.writer(root, "test") as w:
        w.insert("models", pa.Table.from_pylist([row]))


def hostile_rows(root, tmp_path, template):
    """Every kind of bad model file, as (model_id, what the refusal says); each would create ``marker``."""
    marker = tmp_path / "marker"
    evil = pickle.dumps(Planted(marker))
    folder = root / artifacts.FOLDER
    (folder / "evil.pkl").write_bytes(evil)
    (folder / "evil.skops").write_bytes(evil)                             # a pickle under the new name, hash right
    outside = tmp_path / "outside.skops"
    outside.write_bytes(evil)
    good = root / template["artifact_path"]
    changed = folder / "changed.skops"
    changed.write_bytes(good.read_bytes() + b"\0")                         # a model edited after registration
    untrusted = folder / "untrusted.skops"
    untrusted.write_bytes(sio.dumps({"format": artifacts.FORMAT, "format_version": 1, "model": os.system}))
    (folder / "link.skops").symlink_to(outside)
    sha = (lambda p: hashlib.sha256(p.read_bytes()).hexdigest())           # noqa: E731
    cases = [("pickle", "artifacts/models/evil.pkl", None, "stored as a pickle"),
             ("pickle-renamed", "artifacts/models/evil.skops", sha(folder / "evil.skops"), "not a skops model"),
             ("absolute", str(outside), sha(outside), "not inside the lake's artifacts/models"),
             ("dotdot", "artifacts/models/../../../outside.skops", sha(outside), "not inside"),
             ("symlink", "artifacts/models/link.skops", sha(outside), "not inside"),
             ("changed", "artifacts/models/changed.skops", template["artifact_sha256"], "changed since it was"),
             ("untrusted", "artifacts/models/untrusted.skops", sha(untrusted), "not trusted: posix.system")]
    return marker, cases


def test_every_hostile_model_file_is_refused_and_never_runs(trained, tmp_path, cli):
    root, template = trained
    marker, cases = hostile_rows(root, tmp_path, template)
    recipes = tmp_path / "recipes.csv"
    recipes.write_text("\n".join(RECIPES) + "\n")
    for model_id, path, sha, why in cases:
        plant(root, template, model_id, path, sha)
        with pytest.raises(LakeError, match=why):
            registry.load(root, store.query(root, "SELECT * FROM models WHERE model_id = ?",
                                            [model_id]).to_pylist()[0])
        code, out, err = cli("--lake", root, "predict", recipes, "--model", model_id)
        assert code == 1 and out == "" and f"model {model_id}: not loaded" in err and len(err.splitlines()) == 1
        plant(root, {**template, "estimator": "early_life"}, f"{model_id}-early", path, sha)
        code, out, err = cli("--lake", root, "predict", "--under-test")    # the newest early-life model
        assert code == 1 and f"model {model_id}-early: not loaded" in err
    code, _, err = cli("--lake", root, "predict", recipes)                 # the newest row: the last one planted
    assert code == 1 and "not loaded" in err
    assert not marker.exists()
    pickle.loads((root / artifacts.FOLDER / "evil.pkl").read_bytes())      # the plant is real: pickle runs it
    assert marker.read_text() == "ran"


def test_a_tree_pointing_outside_itself_is_refused(fitted, tmp_path):
    model = fitted[0]["gbt"]
    tree = model.model_.estimator_.gbt_.estimators_[0, 0].tree_
    cls, args, state = tree.__reduce__()
    nodes = state["nodes"].copy()
    nodes["left_child"][0] = 10 ** 6                                       # scikit-learn would read past the array
    bad = cls(*args)
    bad.__setstate__({**state, "nodes": nodes})
    original = model.model_.estimator_.gbt_.estimators_[0, 0].tree_
    model.model_.estimator_.gbt_.estimators_[0, 0].tree_ = bad
    try:
        path = tmp_path / artifacts.FOLDER / "bad.skops"
        digest = artifacts.save(model, path)
    finally:
        model.model_.estimator_.gbt_.estimators_[0, 0].tree_ = original
    with pytest.raises(LakeError, match="indices out of range"):
        artifacts.load(tmp_path, {"model_id": "bad", "artifact_path": "artifacts/models/bad.skops",
                                  "artifact_sha256": digest})


def test_an_archive_that_unpacks_too_large_is_refused(tmp_path, monkeypatch):
    path = tmp_path / artifacts.FOLDER / "big.skops"
    path.parent.mkdir(parents=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("schema.json", json.dumps({"__class__": "dict"}))
        zf.writestr("zeros.npy", b"\0" * (2 * 2 ** 20))
    path.write_bytes(buffer.getvalue())
    monkeypatch.setattr(artifacts, "MAX_UNPACKED_BYTES", 2 ** 20)
    with pytest.raises(LakeError, match="unpacks to 2 MB"):
        artifacts.load(tmp_path, {"model_id": "big", "artifact_path": "artifacts/models/big.skops",
                                  "artifact_sha256": hashlib.sha256(path.read_bytes()).hexdigest()})


def test_propose_skips_a_refused_warm_start_with_a_note(trained, tmp_path):
    root, template = trained
    marker, cases = hostile_rows(root, tmp_path, template)
    for model_id, path, sha, _ in cases[:1] + cases[2:3] + cases[5:6]:     # pickle, absolute path, changed file
        plant(root, template, model_id, path, sha)
        batch = propose(root, 1, "cycle_life", seed=0)
        assert len(batch.rows) == 1
        assert any(n.startswith(f"warm start skipped, fitting cycles_to_80 from scratch: model {model_id}: "
                                "not loaded") for n in batch.notes), batch.notes
    assert not marker.exists()


def test_a_lake_of_old_pickles_is_refused_then_retrained_by_train(trained, cli, tmp_path):
    """A lake from before this format: no artifact_sha256 column, pickles. predict refuses with the way out; a plain
    `cathode train` does not keep them as unchanged models (it adds the column and trains anew)."""
    root, template = trained
    marker, _ = hostile_rows(root, tmp_path, template)
    con = duckdb.connect(str(store.catalog_path(root)))
    con.execute("ALTER TABLE models DROP COLUMN artifact_sha256")
    con.execute("UPDATE models SET artifact_path = 'artifacts/models/evil.pkl'")
    con.execute("UPDATE lake_meta SET value = '1' WHERE key = 'schema_version'")     # as an older version wrote it
    con.close()
    recipes = tmp_path / "recipes.csv"
    recipes.write_text("\n".join(RECIPES) + "\n")
    code, out, err = cli("--lake", root, "predict", recipes)
    assert code == 1 and "stored as a pickle" in err and "cathode train --force" in err
    code, out, err = cli("--lake", root, "train", "--early", "0", "--estimator", "gp")
    assert code == 0 and "kept them" not in out, err
    code, out, err = cli("--lake", root, "predict", recipes)
    assert code == 0 and "cycles_to_80_pred" in out, err
    assert not marker.exists()


def test_an_array_declaring_more_than_it_holds_is_refused(fitted, tmp_path):
    """numpy would allocate the declared shape before reading: a 4-byte member claiming 10^12 doubles is refused."""
    path = tmp_path / artifacts.FOLDER / "m.skops"
    artifacts.save(fitted[0]["gp"], path)
    source = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
    member = next(i.filename for i in source.infolist() if i.filename.endswith(".npy"))
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10 ** 12,)})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for info in source.infolist():
            out.writestr(info, header.getvalue() + b"\0\0\0\0"
                         if info.filename == member else source.read(info))
    path.write_bytes(buffer.getvalue())
    with pytest.raises(LakeError, match=r"declares \(1000000000000,\) float64, more than its"):
        artifacts.load(tmp_path, {"model_id": "m", "artifact_path": "artifacts/models/m.skops",
                                  "artifact_sha256": hashlib.sha256(path.read_bytes()).hexdigest()})


def test_the_app_s_propose_button_skips_a_planted_pickle_and_says_so(trained, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.app.test_ui_pages import MAIN, TIMEOUT, texts
    root, template = trained
    marker, cases = hostile_rows(root, tmp_path, template)
    model_id, path, sha, _ = cases[0]                                      # the pickle
    plant(root, template, model_id, path, sha)
    monkeypatch.setenv("CATHODE_LAKE", str(root))
    app = AppTest.from_file(MAIN, default_timeout=TIMEOUT)
    app.switch_page("views/optimizer.py").run()
    app.number_input(key="opt_n").set_value(1)
    app.button[-1].click().run(timeout=120)                                 # the form's Propose button
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert "Proposed 1 recipes" in texts(app.success)
    assert f"warm start skipped, fitting cycles_to_80 from scratch: model {model_id}: not loaded" in texts(app.warning)
    assert not marker.exists()
