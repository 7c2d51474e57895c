"""The recipe space and objectives: bounds, fixes, constraints, campaign files — and the bad inputs of issue 6."""
from __future__ import annotations

import numpy as np
import pytest

from lake.errors import InputError
from optimizer import space as spaces
from optimizer.objectives import parse, retention_at


def test_defaults_come_from_the_virtual_lab_spec():
    s = spaces.Space()
    assert s.bounds["loading_mg_cm2"] == (5.0, 30.0) and s.bounds["c_rate"] == (0.05, 0.5)
    assert len(s.processes) == 3 and s.free == spaces.NUMERIC


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
    assert d.n_cycles == 300 and "cycles_to_50" in d.targets
    for bad in ("lifetime", "delivered_capacity:x", "delivered_capacity:0", "cycle_life,cycle_life"):
        with pytest.raises(InputError):
            parse(bad)
    # the fade curve through the three anchors: 80 % at L80, 70 % at L70, 50 % at L50, 0 well beyond
    l80, l70, l50 = np.log10([100.0]), np.log10([150.0]), np.log10([220.0])
    assert retention_at(100, l80, l70, l50)[0] == pytest.approx(0.8)
    assert retention_at(150, l80, l70, l50)[0] == pytest.approx(0.7)
    assert retention_at(220, l80, l70, l50)[0] == pytest.approx(0.5)
    assert retention_at(2000, l80, l70, l50)[0] == 0.0


def test_a_campaign_file_drives_propose(cli, lake, tmp_path):
    toml = tmp_path / "campaign.toml"
    toml.write_text('objective = "cycle_life"\nn = 3\nstudy = "spring"\n[fix]\ntemperature_c = 55\n')
    code, out, err = cli("--lake", lake, "propose", "--campaign", toml)
    assert code == 0, err
    assert "3 proposals recorded" in out and "temperature_c=55" in out
    toml.write_text("n = 'three'\n")
    code, _, err = cli("--lake", lake, "propose", "--campaign", toml)
    assert code == 1 and "n must be an integer" in err
