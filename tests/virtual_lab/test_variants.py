"""The family of virtual labs: variant 0 is the seed's lab, every variant reproduces the seed's four cells, the
variants differ where it matters (their optima), and every drawn constant lies inside its stated prior."""
import dataclasses
import hashlib
import re

import numpy as np
import pytest

from virtual_lab import lab as vl
from virtual_lab import variants as V
from virtual_lab.labs import virtual_lab

CHECKED = (*V.TUNING, 101, 108, 114, 120)


def _digest(lab=None) -> str:
    h = hashlib.sha256()
    kw = {} if lab is None else {"lab": lab}
    for i, r in enumerate(vl.random_recipes(30, 2) + list(vl.seed_recipes().values())):
        res = vl.simulate(r, 400, seed=i, **kw)
        for f in dataclasses.fields(res):
            v = getattr(res, f.name)
            h.update(np.round(v, 9).tobytes() if isinstance(v, np.ndarray) else repr(v).encode())
    return h.hexdigest()


def test_variant_zero_is_the_seed_lab():
    assert V.variant(0) == vl.LabConstants() == V.SEED_LAB
    assert V.variant(0).k_u == pytest.approx(0.00564307, rel=1e-6)
    assert _digest(V.variant(0)) == _digest()
    recipes = [dataclasses.asdict(r) for r in vl.seed_recipes().values()]
    a, b = virtual_lab(100, seed=4, lab=V.variant(0))(recipes), virtual_lab(100, seed=4)(recipes)
    assert a.equals(b)


@pytest.mark.parametrize("k", CHECKED)
def test_every_variant_reproduces_the_seed_cells(k):
    lab = V.variant(k)
    assert lab != V.SEED_LAB
    seeds = {name: vl.simulate(r, 500, noise=False, lab=lab) for name, r in vl.seed_recipes(lab).items()}
    q = seeds["Cal"].discharge_capacity_mah_g
    assert int(np.flatnonzero(q <= 1e-9)[0]) + 1 in (32, 33)       # damage reaches 1 at the start of cycle 32
    assert seeds["Hot-Cal"].retention_frac[49] == pytest.approx(0.675, abs=V.CAL_TOL["retention"])
    assert seeds["PCA"].retention_frac[499] == pytest.approx(0.700, abs=V.CAL_TOL["retention"])
    assert seeds["PCA thick"].retention_frac[149] == pytest.approx(0.779, abs=V.CAL_TOL["retention"])
    thick = dataclasses.replace(vl.seed_recipes(lab)["PCA thick"], c_rate=0.2)
    assert vl.simulate(thick, 5, noise=False, lab=lab).areal_capacity_mah_cm2 == pytest.approx(4.85, abs=0.01)
    assert not any(res.shorted for res in seeds.values())
    porosity = {name: round(res.porosity_frac, 9) for name, res in seeds.items()}
    assert porosity == {"Cal": 0.25, "Hot-Cal": 0.151, "PCA": 0.0205, "PCA thick": 0.0205}   # the seed's tomography


@pytest.mark.parametrize("k", CHECKED)
def test_priors_are_respected(k):
    lab = V.variant(k)
    assert V.within_priors(lab)
    for name in V.FITTED:
        assert getattr(lab, name) > 0
    lo_hi = [lab.of("porosity_window", p) for p in vl.PROCESSES]
    assert all(lo < hi for lo, hi in lo_hi)


def _doc_rows() -> dict[str, list[tuple[float, float, bool]]]:
    """The docstring's prior table: constant -> [(low, high, log-uniform)] (per process where it has three)."""
    rows = {}
    for line in V.__doc__.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not re.match(r"(log)?U ", cells[1]):
            continue
        log = cells[1].startswith("logU")
        rows[cells[0]] = [(float(a), float(b), log) for a, b in re.findall(r"([\d.]+(?:e\d+)?)-([\d.]+(?:e\d+)?)",
                                                                           cells[1])]
    return rows


def test_the_docstring_states_the_priors_the_code_draws_from():
    rows = _doc_rows()
    seen = set()
    for name, spec in V.PRIORS.items():
        if name.startswith("noise_") and name not in rows:         # noise_ce has its own row
            seed_value = getattr(V.SEED_LAB, name)
            assert rows["noise_*"] == [(0.5, 2.0, True)]
            assert (spec.low, spec.high, spec.log) == (0.5 * seed_value, 2.0 * seed_value, True)
            continue
        if name == "porosity_window":
            for end in (0, 1):
                key = f"porosity_window at d = {1 - end}"
                assert rows[key] == [(p[end].low, p[end].high, p[end].log) for p in spec], key
                seen.add(key)
            continue
        key = next(k for k in rows if k.split(" (")[0] == name)
        specs = [spec] if isinstance(spec, V.Prior) else list(spec)
        assert rows[key] == [(s.low, s.high, s.log) for s in specs], key
        seen.add(key)
    assert seen | {"noise_*"} == set(rows)


def test_priors_are_not_degenerate():
    assert not V.within_priors(dataclasses.replace(V.SEED_LAB, eca_optimum=0.2))
    values = {name: {repr(getattr(V.variant(k), name)) for k in V.TUNING} for name in V.PRIORS}
    assert all(len(v) == len(V.TUNING) for v in values.values())      # each constant really is drawn
    seed_porosity = {r.recipe.process: r.porosity_frac for r in
                     (vl.simulate(r, 1, noise=False) for r in vl.seed_recipes().values())}
    for (dense, loose), p in zip(V.PRIORS["porosity_window"], vl.PROCESSES):   # every window holds the seed's
        assert dense.high < seed_porosity[p] < loose.low


def test_variants_are_deterministic_and_differ():
    V.variant.cache_clear()
    first = V.variant(3)
    V.variant.cache_clear()
    assert V.variant(3) == first != V.variant(4)
    recipes = [dataclasses.asdict(r) for r in vl.random_recipes(150, 9)]
    for r in recipes:
        r.update(voltage_max_v=4.2, c_rate=0.1)
    values = np.array([[V.true_value(r, V.variant(k)) for r in recipes] for k in (0, 1, 2, 3)])
    assert len({int(np.argmax(v)) for v in values}) >= 2                 # the best recipe changes with the lab
    life = np.log10([[V.true_value(r, V.variant(k), "cycle_life", 1000) for r in recipes[:60]] for k in (0, 1, 2, 3)])
    assert np.median(np.ptp(life, axis=0)) > 0.05                        # decades of cycle life between labs


def test_true_optimum_differs_between_variants():
    opt = {k: V.optimum(k, quick=True) for k in (0, 1, 2)}
    for value, recipe in opt.values():
        assert value > 0 and recipe["process"] in vl.PROCESSES
        assert value >= V.true_value(dataclasses.asdict(vl.seed_recipes()["PCA"]), V.variant(0)) * 0.9
    temps = [recipe["temperature_c"] for _, recipe in opt.values()]
    assert max(temps) - min(temps) > 5
    seed_value, _ = opt[0]
    assert seed_value == pytest.approx(2.884, abs=0.01)


def test_virtual_lab_adapter_plays_a_variant():
    recipes = [dataclasses.asdict(r) for r in vl.seed_recipes().values()]
    a = virtual_lab(300, seed=1, lab=V.variant(5))(recipes)
    b = virtual_lab(300, seed=1)(recipes)
    assert a.height == b.height == 4 and not a.equals(b)


def test_bad_variant_index():
    with pytest.raises(ValueError):
        V.variant(-1)
