"""The app's test lake is the demo itself, small: virtual-lab cells, literature, BDF time series, in-situ EIS and
tomography volumes through the ingest path, the derived analyses, a trained model and a first batch of proposals."""
from __future__ import annotations

from pathlib import Path

from app.demo import MEASURED_CELLS, build_demo, demo_loop
from lake import store

UI_CELLS = 12


def build_ui_lake(root: Path, n_cells: int = UI_CELLS) -> Path:
    build_demo(root, n_cells=n_cells)
    demo_loop(root)
    return root


def test_ui_lake_has_every_kind_of_data(tmp_path_factory):
    root = ui_lake_copy(tmp_path_factory, "check")
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


def ui_lake_copy(tmp_path_factory, name: str) -> Path:
    """A private copy of one session-wide UI lake (built once; the copy is re-pointed on first open)."""
    import shutil
    template = tmp_path_factory.getbasetemp() / "ui_lake_template"
    if not (template / "ready").exists():
        shutil.rmtree(template, ignore_errors=True)
        template.mkdir()
        build_ui_lake(template / "lake")
        (template / "ready").touch()
    target = tmp_path_factory.mktemp(name) / "lake"
    shutil.copytree(template / "lake", target)
    return target
