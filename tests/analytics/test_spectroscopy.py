"""Raman Eg/A1g and STXM Ni4+/Ni3+ ratios on synthetic spectra with known peaks; two-column files; bad input."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from analytics import spectroscopy as spectro
from analytics.runner import derive_all
from ingest.pipeline import ingest
from lake import store
from lake.errors import InputError
from tests.conftest import CELLS_HEADER, GOOD_CELLS, write_csv


def raman(ratio, seed=0, noise=3.0):
    x = np.arange(200.0, 900.0, 1.0)
    y = (200 + 0.1 * (x - 300) + spectro._pv(x, 500 * ratio, 476, 60, 0.4) + spectro._pv(x, 500, 553, 45, 0.4)
         + np.random.default_rng(seed).normal(0, noise, x.size))
    return x, y


def stxm(ratio, seed=0):
    e = np.arange(840.0, 860.0, 0.05)
    def gauss(c, s):
        return np.exp(-0.5 * ((e - c) / s) ** 2)
    y = 0.3 + 0.01 * (e - 840) + gauss(852.0, 0.35) + ratio * gauss(854.4, 0.45)
    # the expected ratio at the two energies, overlapping tails included
    truth = (ratio + np.exp(-0.5 * (2.4 / 0.35) ** 2)) / (1 + ratio * np.exp(-0.5 * (2.4 / 0.45) ** 2))
    return e, y + np.random.default_rng(seed).normal(0, 0.003, e.size), truth


@pytest.mark.parametrize("ratio", [0.6, 1.0, 1.4])
def test_raman_ratio(ratio):
    got = spectro.raman_eg_a1g(*raman(ratio))
    assert got["ratio"] == pytest.approx(ratio, rel=0.02)
    assert got["denominator_intensity"] == pytest.approx(500, rel=0.02)


@pytest.mark.parametrize("ratio", [0.75, 0.97, 1.37])            # the seed's Cal region 4 .. region 1 span
def test_stxm_ratio(ratio):
    e, y, truth = stxm(ratio)
    assert spectro.stxm_ni4_ni3(e, y)["ratio"] == pytest.approx(truth, rel=0.02)


def test_short_or_off_range_spectra_are_refused():
    x, y = raman(1.0)
    keep = (x > 500) & (x < 515)
    with pytest.raises(InputError, match="does not cover 380-680"):
        spectro.raman_eg_a1g(x[keep], y[keep])
    e, y, _ = stxm(1.0)
    with pytest.raises(InputError, match="STXM"):
        spectro.stxm_ni4_ni3(e[::40], y[::40])


def test_two_column_file(lake, tmp_path):
    x, y = raman(0.8)
    path = tmp_path / "spot1.csv"
    path.write_text("Raman shift (cm-1),Intensity\n" + "".join(f"{a},{b}\n" for a, b in zip(x, y)))
    (outcome,) = ingest(lake, [path], cell_id="A1", progress=False)
    assert outcome.status == "ingested" and outcome.format == "spectrum_csv"
    table = store.query(lake, "SELECT * FROM spectra_points ORDER BY x")
    assert table.num_rows == x.size and table["x_unit"][0].as_py() == "cm-1"
    assert table["technique"][0].as_py() == "raman"
    assert spectro.raman_eg_a1g(table["x"].to_numpy(), table["intensity"].to_numpy())["ratio"] == \
        pytest.approx(0.8, rel=0.02)
    bad = tmp_path / "bad.csv"
    bad.write_text("energy_eV,intensity\n852.0,2\n854.4,oops\n")
    (outcome,) = ingest(lake, [bad], cell_id="A1", progress=False)
    assert outcome.status == "rejected" and "row 3" in outcome.reason and "oops" in outcome.reason


def test_derive_ratios_in_the_lake(lake, tmp_path):
    cells = write_csv(tmp_path / "cells.csv", CELLS_HEADER, GOOD_CELLS)
    assert ingest(lake, [cells], progress=False)[0].status == "ingested"
    spectra = []
    for sid, (x, y) in {"r-1": raman(1.2)[:2], "s-1": stxm(1.37)[:2], "s-short": (np.arange(5.0), np.ones(5))}.items():
        tech = "raman" if sid.startswith("r") else "stxm"
        spectra.append(pa.table({"spectrum_id": [sid] * len(x), "cell_id": ["B1"] * len(x),
                                 "technique": [tech] * len(x), "x": x, "intensity": y}))
    with store.writer(lake, "test") as w:                      # no spectrum reader yet: rows written directly
        w.insert("spectra_points", pa.concat_tables(spectra))
    report = derive_all(lake, "spectroscopy")
    assert report.computed["spectroscopy"] == 2
    assert [f[1] for f in report.failed] == ["s-short"]
    rows = {r["spectrum_id"]: r for r in store.query(lake, "SELECT * FROM spectroscopy_ratios").to_pylist()}
    assert rows["r-1"]["ratio_name"] == "raman_eg_a1g" and rows["r-1"]["ratio"] == pytest.approx(1.2, rel=0.02)
    assert rows["s-1"]["ratio_name"] == "stxm_ni4_ni3" and rows["s-1"]["ratio"] == pytest.approx(1.37, rel=0.02)
