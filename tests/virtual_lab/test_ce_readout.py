"""Coulombic efficiency carries the cycler's read-out noise (LabConstants.noise_ce): the charge is read with its own
error each cycle, of the documented size; noise off it is exact, and the new draw leaves every other output of a
seed as it was."""
import dataclasses

import numpy as np
import pytest

from virtual_lab import lab as vl
from virtual_lab import variants as V

LONG_LIVED = vl.Recipe("in_situ_polymerized", 12.7, 0.5, 0.05)       # 738 cycles to its end, 1 - CE about 4e-4


def test_the_seed_lab_has_the_documented_ce_noise():
    assert vl.LabConstants().noise_ce == V.SEED_LAB.noise_ce == 3e-4
    assert V.PRIORS["noise_ce"] == V.Prior(1e-4, 1e-3, log=True)
    assert all(V.PRIORS["noise_ce"].holds(V.variant(k).noise_ce) for k in (1, 2, 3))


def test_noise_off_ce_is_exact():
    lab = vl.LabConstants()
    res = vl.simulate(LONG_LIVED, 300, noise=False, lab=lab)
    c = vl.conditions(LONG_LIVED, lab)
    d, k = vl.damage(c["a0"], c["base"], c["g"], c["t"], 300, lab)
    np.testing.assert_allclose(res.coulombic_efficiency_frac[1:], (1 - d[1:]) / (1 - d[1:] + k[1:]), rtol=1e-12)
    assert np.array_equal(res.charge_capacity_mah_g, vl.simulate(LONG_LIVED, 300, noise=False,
                                                                  lab=dataclasses.replace(lab, noise_ce=0.0))
                          .charge_capacity_mah_g)


@pytest.mark.parametrize("noise_ce", [1e-4, 3e-4, 1e-3])
def test_ce_read_error_has_the_documented_size(noise_ce):
    noisy, quiet = (vl.simulate(LONG_LIVED, 2000, seed=3, lab=vl.LabConstants(noise_ce=s)) for s in (noise_ce, 0.0))
    n = noisy.last_cycle
    read = noisy.charge_capacity_mah_g[:n] / quiet.charge_capacity_mah_g[:n] - 1
    assert np.std(read) == pytest.approx(noise_ce, rel=0.1) and abs(np.mean(read)) < 4 * noise_ce / np.sqrt(n)
    # the same seed's other outputs do not move: the charge's errors are drawn after every other draw
    for field in ("discharge_capacity_mah_g", "retention_frac", "measured_porosity_frac", "short_cycle"):
        assert np.array_equal(getattr(noisy, field), getattr(quiet, field))
    ce, ce_quiet = noisy.coulombic_efficiency_frac[:n], quiet.coulombic_efficiency_frac[:n]
    np.testing.assert_allclose(ce_quiet / ce - 1, read, rtol=1e-9, atol=1e-15)
    if noise_ce >= 1e-3:                  # the read error outweighs a loss of ~4e-4 per cycle: CE reads above 1
        assert (ce > 1).any()
