"""Microstructure: per-particle binder contact and percolation, on hand-made volumes and on taufactor's
electrode.tiff (references in ../shared/samples/SOURCES.md)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from analytics import microstructure as micro
from analytics.runner import derive_all
from ingest.pipeline import ingest
from ingest.readers import detect
from lake import store
from lake.errors import InputError
from tests.conftest import CELLS_HEADER, GOOD_CELLS, write_csv

VOXEL = 100e-6 / 256
LABELS = {"pore": 0, "ncm": 85, "binder": 170}


def test_two_cubes_with_known_contact():
    phase = np.zeros((16, 16, 16), np.uint8)                  # pore everywhere
    phase[1:8, 1:8, 1:8] = micro.BINDER                      # cube A (5^3) wrapped in binder
    phase[2:7, 2:7, 2:7] = micro.NCM
    phase[9:14, 9:14, 9:14] = micro.NCM                      # cube B in pore, binder on one face only
    phase[9:14, 9:14, 14] = micro.BINDER
    table, stats = micro.analyse(phase, 1e-6)
    rows = sorted(table.to_pylist(), key=lambda r: r["contact_frac"])
    assert len(rows) == 2 and stats["n_particles"] == 2
    assert (rows[0]["binder_faces"], rows[0]["pore_faces"]) == (25, 125)
    assert rows[0]["contact_frac"] == pytest.approx(1 / 6)
    assert (rows[1]["binder_faces"], rows[1]["pore_faces"], rows[1]["contact_frac"]) == (150, 0, 1.0)
    assert rows[1]["volume_m3"] == pytest.approx(125e-18)
    assert not any(r["touches_boundary"] for r in rows)
    # pore is one cluster touching every face; NCM does not span
    assert stats["pore_percolating_frac_z"] == 1.0 and stats["ncm_percolating_frac_z"] == 0.0


@pytest.fixture(scope="module")
def electrode(request):
    from tests.conftest import SAMPLES
    path = SAMPLES / "tomography_labels/electrode.tiff"
    if not path.is_file():
        pytest.skip("electrode.tiff not found")
    phase, voxel = micro.load_phases(path, VOXEL, LABELS)
    table, stats = micro.analyse(phase, voxel)
    return path, table, stats


def test_electrode_percolation_matches_taufactor(electrode):
    _, _, stats = electrode
    # taufactor's percolating fractions along x (face connectivity): pore 0.9989, NMC 0.9611, CBD 0.9740
    assert stats["pore_percolating_frac_z"] == pytest.approx(0.9989, abs=5e-5)
    assert stats["ncm_percolating_frac_z"] == pytest.approx(0.9611, abs=5e-5)
    assert stats["binder_percolating_frac_z"] == pytest.approx(0.9740, abs=5e-5)


def test_electrode_contacts_add_up_to_the_reader(electrode):
    path, table, stats = electrode
    whole = detect(path).read(path, voxel_size_m=VOXEL, labels=LABELS).tables["microstructure"].to_pylist()[0]
    binder, pore = table["binder_faces"].to_numpy(), table["pore_faces"].to_numpy()
    assert binder.sum() == whole["ncm_binder_faces"] and pore.sum() == whole["ncm_pore_faces"]
    assert binder.sum() / (binder.sum() + pore.sum()) == pytest.approx(whole["active_area_frac"])
    volume = table["volume_m3"].to_numpy().sum()
    assert volume == pytest.approx(0.400466 * (100e-6) ** 3, rel=1e-5)      # the NMC volume fraction
    # a distribution, not one cluster: hundreds of particles of a few um, contact spread around the mean
    assert 300 < stats["n_particles"] < 5000
    assert 2e-6 < np.median(table["equivalent_diameter_m"].to_numpy()) < 10e-6
    assert stats["contact_frac_p10"] < stats["contact_frac_median"] < stats["contact_frac_p90"]
    assert 0.5 < stats["contact_frac_mean"] < 0.7


def test_derive_microstructure_from_the_lake(lake, tmp_path, samples):
    tiff = tmp_path / "A1.tiff"
    volume = tifffile.imread(samples / "tomography_labels/electrode.tiff")[:64, :64, :64]
    tifffile.imwrite(tiff, volume)
    (tmp_path / "A1.tiff.json").write_text(json.dumps({"voxel_size_m": VOXEL, "labels": LABELS}))
    cells = write_csv(tmp_path / "cells.csv", CELLS_HEADER, GOOD_CELLS)
    assert all(o.status == "ingested" for o in ingest(lake, [cells, tiff], progress=False))
    report = derive_all(lake, "microstructure")
    assert report.computed["microstructure"] == 1, report.failed
    stats = store.query(lake, "SELECT * FROM microstructure_stats").to_pylist()[0]
    assert stats["cell_id"] == "A1" and stats["n_particles"] > 5
    n = store.query(lake, "SELECT count(*) AS n FROM particle_contacts WHERE cell_id = 'A1'")["n"][0].as_py()
    assert n == stats["n_particles"]
    tiff.unlink()                                             # the lake keeps metrics, not the volume
    gone = derive_all(lake, "microstructure", force=True)
    assert gone.lake_version is None and "no longer at its ingest path" in gone.failed[0][2]


def test_unknown_label_values_are_refused(tmp_path):
    path = tmp_path / "bad.tiff"
    tifffile.imwrite(path, np.full((4, 4, 4), 7, np.uint8))
    with pytest.raises(InputError, match="label values"):
        micro.load_phases(path, 1e-6, LABELS)
