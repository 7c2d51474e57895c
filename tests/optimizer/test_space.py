"""The recipe space and objectives: bounds, fixes, constraints, campaign files — and the bad inputs of issue 6."""
from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from lake.errors import InputError
from optimizer import space as spaces
from optimizer.objectives import parse, with_extrapolated_loss


def test_defaults_are_the_recipe_vocabulary_bounds():
    s = spaces.Space()
    assert s.bounds["loading_mg_cm2"] == (5.0, 30.0) and s.bounds["c_rate"] == (0.05, 0.5)
    assert len(s.processes) == 3 and s.free == spaces.NUMERIC


def test_latin_hypercube_fills_each_stratum_once():
    s = spaces.Space().fix("temperature_c", 60)
    recipes = s.latin_hypercube(12, np.random.default_rng(3))
    u, procs = s.to_unit(recipes)
    assert u.shape == (12, 5)
    for column in u.T:                               # one point in each twelfth of every free range
        assert sorted(np.floor(column * 12).astype(int)) == list(range(12))
    assert np.bincount(procs).tolist() == [4, 4, 4] and all(r["temperature_c"] == 60 for r in recipes)
    assert recipes == s.latin_hypercube(12, np.random.default_rng(3))
    every = spaces.Space()
    for name in spaces.NUMERIC:
        every = every.fix(name, every.bounds[name][0])
    assert len(every.latin_hypercube(3, np.random.default_rng(0))) == 3   # nothing free: fixed recipes only


def test_flags_and_campaign_file_narrow_fix_and_constrain(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('objective = "cycle_life"\nprocesses = ["in_situ_polymerized", "hot_calendered"]\n'
                    '[bounds]\nloading_mg_cm2 = [10, 25]\n[fix]\nvoltage_max_v = 4.2\n')
    s = spaces.build(fix=["temperature_c=60"], minimum=["loading_mg_cm2=12"], maximum=["eca_wt_frac=0.1"],
                     campaign=toml)
    assert s.bounds["loading_mg_cm2"] == (12.0, 25.0) and s.bounds["eca_wt_frac"] == (0.0, 0.1)
    assert s.fixed == {"voltage_max_v": 4.2, "temperature_c": 60.0}
    assert set(s.processes) == {"in_situ_polymerized", "hot_calendered"}
    rng = np.random.default_rng(0)
    for r in s.random(50, rng) + s.latin_hypercube(12, rng):
        assert s.contains(r) and r["temperature_c"] == 60.0 and 12 <= r["loading_mg_cm2"] <= 25
    assert "temperature_c=60" in s.describe()


@pytest.mark.parametrize("kwargs, message", [
    ({"bounds": ["loading_mg_cm2=20:10"]}, "low is above high"),
    ({"bounds": ["loading_mg_cm2=2:20"]}, "leave the recipe space"),
    ({"minimum": ["loading_mg_cm2=40"]}, "low is above high"),
    ({"fix": ["temperature_c=95"]}, "outside its bounds"),
    ({"fix": ["temperature_c=60"], "maximum": ["temperature_c=50"]}, "outside its bounds"),
    ({"fix": ["colour=blue"]}, "unknown parameter"),
    ({"minimum": ["colour=1"]}, "unknown parameter"),
    ({"fix": ["temperature_c=hot"]}, "not a number"),
    ({"fix": ["temperature_c"]}, "bad --fix"),
    ({"processes": ["spray_coated"]}, "unknown process"),
])
def test_bad_space_inputs_are_named(kwargs, message):
    with pytest.raises(InputError, match=message):
        spaces.build(**kwargs)


def test_bad_campaign_file(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text("[bounds]\nloading_mg_cm2 = 12\n")
    with pytest.raises(InputError, match=r"\[low, high\]"):
        spaces.build(campaign=bad)
    bad.write_text("colour = 1\n")
    with pytest.raises(InputError, match="unknown key"):
        spaces.build(campaign=bad)


def test_objectives():
    assert [o.name for o in parse(None)] == ["cycle_life", "areal_capacity"]
    d = parse("delivered_capacity:300")[0]
    assert d.n_cycles == 300 and d.targets == ("initial_areal_capacity", "retention_300")
    for bad in ("lifetime", "delivered_capacity:x", "delivered_capacity:0", "cycle_life,cycle_life"):
        with pytest.raises(InputError):
            parse(bad)
    # areal capacity (log10) x (1 - loss at N), loss on log10; a loss past 100 % delivers nothing
    z = np.log10([0.25, 1.0, 3.0])
    value = d.combine({"initial_areal_capacity": np.log10([4.0, 4.0, 4.0]), "retention_300": z})
    assert value == pytest.approx([3.0, 0.0, 0.0])


def test_a_cell_that_died_before_n_gets_its_fade_extrapolated():
    """Cells dead before cycle 300 are ranked by how early they died (loss past 100 %); a measured retention at
    300 is kept; a test stopped early on a healthy cell stays a lower bound (no value)."""
    frame = pl.DataFrame({
        "cell_id": ["early", "late", "alive", "stopped"], "cycles_tested": [34, 240, 300, 50],
        "cycles_to_80": [10, 92, 300, 50], "cycles_to_50": [22, 174, 300, 50],
        "censored_50": [False, False, True, True], "retention_300": [None, None, 0.66, None]})
    out = with_extrapolated_loss(frame, ("initial_areal_capacity", "retention_300"))["retention_300"].to_list()
    assert out[0] < out[1] < 0.0 and out[2] == 0.66 and out[3] is None
    # the late death: damage a power law of cycle number through (92, 0.2) and (174, 0.5), read at 300
    assert 1 - out[1] == pytest.approx(0.5 * (300 / 174) ** (np.log(2.5) / np.log(174 / 92)), rel=1e-6)
    assert with_extrapolated_loss(frame.drop("censored_50"), ("retention_300",)).equals(frame.drop("censored_50"))


def test_a_campaign_file_drives_propose(cli, lake, tmp_path):
    toml = tmp_path / "campaign.toml"
    toml.write_text('objective = "cycle_life"\nn = 3\nstudy = "spring"\n[fix]\ntemperature_c = 55\n')
    code, out, err = cli("--lake", lake, "propose", "--campaign", toml)
    assert code == 0, err
    assert "3 proposals recorded" in out and "temperature_c=55" in out
    toml.write_text("n = 'three'\n")
    code, _, err = cli("--lake", lake, "propose", "--campaign", toml)
    assert code == 1 and "n must be an integer" in err
    toml.write_text("after_cycles = 'soon'\n")
    code, _, err = cli("--lake", lake, "propose", "--campaign", toml)
    assert code == 1 and "after_cycles must be an integer" in err and "e.g. 50" in err
