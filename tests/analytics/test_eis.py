"""EIS fits: a spectrum simulated by impedance.py from known parameters is recovered, every sample file fits,
Boukamp's test circuit (pyimpspec's data.dta) comes back, and a spectrum too short for the circuit is refused."""
from __future__ import annotations

import numpy as np
import pytest
from impedance.models.circuits import CustomCircuit

from analytics import eis_fit
from analytics.runner import derive_all
from ingest.pipeline import ingest
from ingest.readers import detect
from lake import store
from lake.errors import InputError
from tests.conftest import CELLS_HEADER, GOOD_CELLS, write_csv

TRUE = [10.0, 50.0, 2e-6, 0.9, 120.0, 5e-4, 0.8, 30.0]   # R0, R1, CPE1 (Q, a), R2, CPE2 (Q, a), W1
pytestmark = pytest.mark.filterwarnings("ignore:Simulating circuit based on initial parameters")
EIS_FILES = ("eis/exampleDataAutolab.txt", "eis/exampleDataCHInstruments.txt", "eis/exampleDataGamry.DTA",
             "eis/exampleDataParstat.txt", "eis/exampleDataVersaStudio.par", "eis/exampleDataZPlot.z",
             "eis_pyimpspec_fixtures/data.dta", "biologic/peis.mpr")


def simulated(noise=0.005, seed=1):
    f = np.logspace(5, -2, 71)
    z = CustomCircuit(eis_fit.CIRCUIT, initial_guess=TRUE).predict(f)
    rng = np.random.default_rng(seed)
    return f, z * (1 + noise * rng.standard_normal(f.size))


def test_model_is_impedance_py_circuit():
    f = np.logspace(5, -2, 30)
    z = CustomCircuit(eis_fit.CIRCUIT, initial_guess=TRUE).predict(f)
    assert np.allclose(eis_fit.model(np.array(TRUE), f), z, rtol=1e-12)


def test_known_parameters_are_recovered():
    f, z = simulated()
    fitted = eis_fit.fit(f, z.real, z.imag)
    values, errors = fitted["values"], fitted["stderr"]
    for k in (0, 1, 4, 7):                                    # resistances and Warburg within 2 %
        assert values[k] == pytest.approx(TRUE[k], rel=0.02)
    assert values[3] == pytest.approx(0.9, abs=0.02) and values[6] == pytest.approx(0.8, abs=0.02)
    assert np.all(np.isfinite(errors)) and np.all(errors > 0)
    assert abs(values[1] - TRUE[1]) < 4 * errors[1]           # the error bar covers the truth
    assert fitted["residual_rel_frac"] < 0.01


def test_boukamp_test_circuit_from_a_real_file(samples):
    """data.dta is pyimpspec's TC-1 (Boukamp 1995): R 100 + (R 200 || C 0.8 uF) + (R 500 || W, Y 4e-4): the CPE
    arcs take alpha 1 (a capacitor) and alpha 0.5 (the Warburg)."""
    path = samples / "eis_pyimpspec_fixtures/data.dta"
    pts = detect(path).read(path).tables["eis_points"]
    v = eis_fit.fit(pts["frequency_hz"].to_numpy(), pts["z_real_ohm"].to_numpy(), pts["z_imag_ohm"].to_numpy())
    p = v["values"]
    assert p[0] == pytest.approx(100, rel=0.01) and p[1] == pytest.approx(200, rel=0.01)
    assert p[4] == pytest.approx(500, rel=0.01)
    assert p[2] == pytest.approx(0.8e-6, rel=0.02) and p[3] == pytest.approx(1.0, abs=0.01)
    assert p[5] == pytest.approx(4e-4, rel=0.02) and p[6] == pytest.approx(0.5, abs=0.01)


def test_too_few_points_are_refused():
    f, z = simulated()
    with pytest.raises(InputError, match="fit refused: 5 capacitive points"):
        eis_fit.fit(f[:5], z.real[:5], z.imag[:5])


def test_conductivity_eq3():
    # the seed's PEGDA-PECA: 0.43 mS/cm; a 100 um membrane on 1 cm2 then has R = L / (sigma S) = 23.26 ohm
    assert eis_fit.conductivity_s_cm(0.01 / 4.3e-4, 0.01, 1.0) == pytest.approx(4.3e-4)
    assert eis_fit.conductivity_s_cm(23.0, None, 1.0) is None


def test_every_sample_spectrum_fits_in_the_lake(lake, tmp_path, samples):
    cells = write_csv(tmp_path / "cells.csv", CELLS_HEADER + ["electrode_area_cm2", "membrane_thickness_um"],
                      [row + [2.0, 100] for row in GOOD_CELLS])
    outcomes = ingest(lake, [cells, *(samples / f for f in EIS_FILES)], cell_id="A1", progress=False)
    assert all(o.status == "ingested" for o in outcomes), [o.reason for o in outcomes]
    n_spectra = store.query(lake, "SELECT count(*) AS n FROM eis_spectra")["n"][0].as_py()
    report = derive_all(lake, "eis")
    assert not report.failed and report.computed["eis"] == n_spectra
    results = store.query(lake, "SELECT * FROM eis_results").to_pylist()
    assert len(results) == n_spectra
    for r in results:
        assert r["r_interface_ohm"] > 0 and np.isfinite(r["residual_rms_ohm"])
        assert r["r_interface_ohm_cm2"] == pytest.approx(2.0 * r["r_interface_ohm"])
        if r["r_bulk_ohm"] > 1e-3:
            assert r["sigma_s_cm"] == pytest.approx(0.01 / (r["r_bulk_ohm"] * 2.0))
    fits = store.query(lake, "SELECT count(*) AS n, count(DISTINCT parameter) AS p FROM eis_fits").to_pylist()[0]
    assert fits == {"n": 8 * n_spectra, "p": 8}
    tc1 = store.query(lake, "SELECT r_bulk_ohm, r_interface_ohm, r_ct_ohm, residual_rel_frac FROM eis_results "
                      "WHERE abs(r_bulk_ohm - 100) < 1").to_pylist()
    assert len(tc1) == 1 and tc1[0]["r_ct_ohm"] == pytest.approx(500, rel=0.01)


def test_the_fitted_curve_is_stored_for_the_app(lake, tmp_path, samples):
    """eis_fit_points holds the circuit at the fitted parameters across the spectrum's frequencies."""
    ingest(lake, [samples / "eis" / "exampleDataGamry.DTA"], cell_id="E1", progress=False)
    derive_all(lake, "eis")
    curve = store.query(lake, "SELECT * FROM eis_fit_points ORDER BY point_index").to_pylist()
    params = {r["parameter"]: r["value"] for r in store.query(lake, "SELECT * FROM eis_fits").to_pylist()}
    points = store.query(lake, "SELECT frequency_hz FROM eis_points WHERE z_imag_ohm <= 0")["frequency_hz"]
    assert len(curve) == eis_fit.CURVE_POINTS and curve[0]["frequency_hz"] > curve[-1]["frequency_hz"]
    assert curve[0]["frequency_hz"] == pytest.approx(max(points.to_pylist()))
    f = np.array([r["frequency_hz"] for r in curve])
    z = eis_fit.model(np.array([params[n] for n in eis_fit.NAMES]), f)
    assert np.allclose([r["z_real_ohm"] for r in curve], z.real) and np.allclose([r["z_imag_ohm"] for r in curve],
                                                                                 z.imag)
