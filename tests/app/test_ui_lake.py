"""A small lake with every kind of data the app shows, built from code: the demo (cells, cycles, literature, BDF
time series) plus a tomography label stack ingested through the pipeline, and EIS spectra with fits, a model and
proposals written through the store's writer (stand-ins until the analytics, models and optimizer land)."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pyarrow as pa

from app.demo import build_demo
from ingest.pipeline import ingest
from lake import store

LABELS = {"pore": 0, "ncm": 85, "binder": 170}
EIS_CIRCUIT = "R0-p(R1,CPE1)"
EIS_CELL = "VL-0001"


def label_volume(path: Path, edge: int = 32, seed: int = 3) -> Path:
    """A 3-phase label stack: NCM spheres in binder with pores, plus its sidecar JSON."""
    import tifffile
    rng = np.random.default_rng(seed)
    z, y, x = np.indices((edge, edge, edge))
    vol = np.where(rng.random((edge, edge, edge)) < 0.35, LABELS["pore"], LABELS["binder"]).astype(np.uint8)
    for _ in range(edge * 2 // 3):
        c, r = rng.uniform(3, edge - 3, 3), rng.uniform(2, 3.5)
        vol[(z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 <= r * r] = LABELS["ncm"]
    tifffile.imwrite(path, vol)
    Path(f"{path}.json").write_text(json.dumps({"voxel_size_m": 5e-7, "labels": LABELS}))
    return path


def eis_tables(voltages=(3.6, 3.8, 4.0)) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Spectra of one cell during charge, simulated from R0-p(R1,CPE1) with R1 rising with voltage, and their fits."""
    from app.ui.charts import circuit_impedance        # checked against impedance.py in test_ui_logic
    freq = np.logspace(5, -1, 31)
    spectra, points, fits = [], [], []
    for i, v in enumerate(voltages):
        params = {"R0": 20.0, "R1": 150.0 + 400.0 * (v - 3.6), "CPE1_0": 2e-5, "CPE1_1": 0.85}
        z = circuit_impedance(EIS_CIRCUIT, params, freq)
        sid = f"synthetic-{i}"
        spectra.append({"spectrum_id": sid, "cell_id": EIS_CELL, "source_sha256": "synthetic", "spectrum_index": i,
                        "voltage_v": v, "instrument": "simulated", "n_points": len(freq)})
        points += [{"spectrum_id": sid, "frequency_hz": f, "z_real_ohm": zz.real, "z_imag_ohm": zz.imag}
                   for f, zz in zip(freq, z)]
        fits += [{"spectrum_id": sid, "circuit": EIS_CIRCUIT, "parameter": k, "value": val, "stderr": 0.0,
                  "unit": "ohm" if k.startswith("R") else "", "residual_rms_ohm": 0.0, "method_version": "test"}
                 for k, val in params.items()]
        fits.append({**fits[-1], "parameter": "r_interface_ohm", "value": params["R1"], "unit": "ohm"})
    return pa.Table.from_pylist(spectra), pa.Table.from_pylist(points), pa.Table.from_pylist(fits)


def model_row(version: int) -> dict:
    rng = np.random.default_rng(1)
    truth = rng.uniform(20, 400, 12)
    pred = truth * rng.normal(1, 0.15, 12)
    metrics = {"rmse_log10": 0.11, "coverage_90": 0.92, "width_log10": 0.4,
               "cv_predictions": [{"cell_id": f"VL-{i + 1:04d}", "y_true": t, "y_pred": p, "y_lo": p * 0.7,
                                   "y_hi": p * 1.4} for i, (t, p) in enumerate(zip(truth, pred))],
               "feature_importance": {"active_area_frac": 0.5, "loading_mg_cm2": 0.3, "c_rate": 0.2}}
    return {"model_id": "gp-cycles_to_80-1", "target": "cycles_to_80", "estimator": "gp",
            "features_json": json.dumps(list(metrics["feature_importance"])), "metrics_json": json.dumps(metrics),
            "library_versions_json": json.dumps({"scikit-learn": "test"}), "trained_on_version": version,
            "n_cells": 12, "artifact_path": "models/gp.pkl", "created_at": dt.datetime.now(dt.timezone.utc)}


def proposal_rows() -> list[dict]:
    now = dt.datetime.now(dt.timezone.utc)
    return [{"proposal_id": f"P-{i}", "study_name": "test", "process": "in_situ_polymerized",
             "loading_mg_cm2": 14.0 + i, "densification_frac": 0.8, "eca_wt_frac": 0.05, "temperature_c": 60.0,
             "voltage_max_v": 4.2, "c_rate": 0.1, "objective": "cycle_life", "predicted_mean": 300.0 - 20 * i,
             "predicted_lo": 200.0 - 20 * i, "predicted_hi": 420.0 - 20 * i, "acquisition": 1.0 / (i + 1),
             "model_id": "gp-cycles_to_80-1", "status": ("proposed", "accepted", "done")[i],
             "result_cell_id": None, "created_at": now} for i in range(3)]


def _insert_derived(w: store.Writer, name: str, rows: pa.Table, unit: str, quantity: str) -> None:
    """Rows of a derived table: straight in when it is a table; else into `<name>_history` plus one `derive_runs`
    row per unit, which is what its view shows (the analytics' append-only layout)."""
    from lake import schema
    if schema.table(name).kind == "catalog":
        w.insert(name, rows)
        return
    declared = set(schema.table(f"{name}_history").names)
    if "cell_id" in declared and "cell_id" not in rows.column_names:
        rows = rows.append_column("cell_id", pa.array([EIS_CELL] * rows.num_rows, pa.string()))
    w.insert(f"{name}_history", rows.select([c for c in rows.column_names if c in declared]))
    units = sorted(set(rows[unit].to_pylist()))
    w.insert("derive_runs", pa.Table.from_pylist([
        {"quantity": quantity, "unit_id": u, "method_version": "test", "input_fingerprint": "test", "n_rows": 1,
         "note": ""} for u in units]))


def _insert_proposals(w: store.Writer, rows: list[dict]) -> None:
    """Proposals as a table, or (the optimizer's append-only layout) records plus status events."""
    from lake import schema
    if schema.table("proposals").kind == "catalog":
        w.insert("proposals", pa.Table.from_pylist(rows))
        return
    declared = set(schema.table("proposal_records").names)
    w.insert("proposal_records", pa.Table.from_pylist([{k: v for k, v in r.items() if k in declared} for r in rows]))
    events = [{"proposal_id": r["proposal_id"], "status": r["status"], "note": "test",
               "created_at": r["created_at"]} for r in rows if r["status"] != "proposed"]
    w.insert("proposal_events", pa.Table.from_pylist(events))


def build_ui_lake(root: Path, n_cells: int = 8) -> Path:
    build_demo(root, n_cells=n_cells)
    volume = label_volume(root.parent / "electrode_labels.tiff")
    outcomes = ingest(root, [volume], cell_id=EIS_CELL, progress=False)
    assert [o.status for o in outcomes] == ["ingested"], outcomes
    spectra, points, fits = eis_tables()
    with store.writer(root, "test") as w:
        w.insert("eis_spectra", spectra)
        w.stage_bulk("eis_points", points, "synthetic", EIS_CELL)
        _insert_derived(w, "eis_fits", fits, "spectrum_id", "eis")
        w.insert("models", pa.Table.from_pylist([model_row(w.version - 1)]))
        _insert_proposals(w, proposal_rows())
        w.summary = "app test data"
    return root


def test_ui_lake_has_every_kind_of_data(tmp_path_factory):
    root = ui_lake_copy(tmp_path_factory, "check")
    counts = store.query(root, """SELECT (SELECT count(*) FROM eis_points) AS eis, (SELECT count(*) FROM
        microstructure) AS micro, (SELECT count(*) FROM models) AS models, (SELECT count(*) FROM proposals) AS props,
        (SELECT count(*) FROM timeseries) AS ts""").to_pylist()[0]
    assert counts["eis"] == 93 and counts["micro"] == 1 and counts["models"] == 1 and counts["props"] == 3
    assert counts["ts"] > 0


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
