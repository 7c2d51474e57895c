"""The app's test lake is the demo itself, small: virtual-lab cells, literature, BDF time series, in-situ EIS and
tomography volumes through the ingest path, the derived analyses, a trained model and a first batch of proposals."""
from __future__ import annotations

from pathlib import Path

from app.demo import MEASURED_CELLS
from lake import store
from tests.conftest import DEMO_CELLS, copy_lake

UI_CELLS = DEMO_CELLS


def test_ui_lake_has_every_kind_of_data(demo_lakes):
    root = demo_lakes.full
    counts = store.query(root, """SELECT (SELECT count(*) FROM eis_results) AS fits, (SELECT count(*) FROM
        microstructure) AS micro, (SELECT count(DISTINCT target) FROM models) AS targets, (SELECT count(*) FROM
        proposals) AS props, (SELECT count(DISTINCT cell_id) FROM timeseries) AS ts,
        (SELECT count(*) FROM particle_contacts) AS particles""").to_pylist()[0]
    assert counts == {"fits": 7 * MEASURED_CELLS, "micro": MEASURED_CELLS, "targets": 2, "props": 4, "ts": 4,
                      "particles": counts["particles"]} and counts["particles"] > 50
    # The demo's instruments follow the seed: interface resistance rises above 3.8 V only where contact is poor.
    rise = store.query(root, """SELECT c.active_area_frac AS area, max(r.r_interface_ohm) / min(r.r_interface_ohm)
        AS rise FROM eis_results r JOIN cells c USING (cell_id) GROUP BY ALL""").to_pylist()
    assert all((r["rise"] > 1.5) == (r["area"] < 0.75) for r in rise), rise


def ui_lake_copy(demo_lakes, tmp_path_factory, name: str) -> Path:
    """A private copy of the session's demo lake with models and proposals (tests/conftest.py)."""
    return copy_lake(demo_lakes.full, tmp_path_factory.mktemp(name) / "lake")
