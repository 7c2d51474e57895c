"""`cathode demo` builds the default lake from data the project makes itself, the same way twice."""
from __future__ import annotations

import subprocess
import sys

from lake import store


def test_demo_builds_a_lake_a_stock_client_can_read(cli, demo_lakes, tmp_path):
    root, out = demo_lakes.data, demo_lakes.build_output
    assert "cells: 44 (40 virtual-lab, 4 from the seed paper)" in out and "lake version: 2" in out
    assert "impedance spectra: 21, tomography volumes: 3" in out
    code, out, _ = cli("--lake", root, "sql", "select count(*) from cells", "--format", "csv")
    assert int(out.splitlines()[1]) >= 44
    script = (f"import duckdb; con = duckdb.connect({str(root / 'lake.duckdb')!r}, read_only=True); "
              "rows = con.sql('select * from cycles limit 5').fetchall(); print(len(rows))")
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "5"
    # Every input came from the project itself, written inside the lake folder, through the ingest path.
    paths = store.query(root, "SELECT original_path, format FROM sources").to_pylist()
    assert all(p["original_path"].startswith(str(root.resolve())) for p in paths)
    assert {p["format"] for p in paths} == {"literature_csv", "cells_csv", "cycles_csv", "bdf", "biologic_mpt",
                                            "label_tiff"}
    seed = store.query(root, "SELECT * FROM literature WHERE cell_id = 'An2023-PCA'").to_pylist()[0]
    assert (seed["doi"], seed["figure"], seed["value"], seed["at_cycle"]) == (
        "10.1002/adfm.202305186", "Fig. 5d,e", 0.70, 500)
    # A plateau cell and a well-contacted cell both have time series.
    areas = store.query(root, "SELECT min(active_area_frac) lo, max(active_area_frac) hi FROM cells "
                              "WHERE cell_id IN (SELECT DISTINCT cell_id FROM timeseries)").to_pylist()[0]
    assert areas["lo"] < 0.8 < areas["hi"]
    # The demo derives the seed's quantities: the first-charge plateau shows only in poorly contacted cells.
    flags = store.query(root, "SELECT f.first_charge_plateau AS plateau, c.active_area_frac AS area FROM "
                              "first_charge f JOIN cells c USING (cell_id)").to_pylist()
    assert len(flags) == 4
    assert all(f["plateau"] == (f["area"] < 0.8) for f in flags), flags
    # In-situ EIS and tomography of the worst-, middle- and best-contacted cells, fitted and measured: the
    # volume's active-area fraction follows the cell's, and the interface resistance grows only where it is low.
    micro = store.query(root, "SELECT m.active_area_frac AS volume, c.active_area_frac AS cell FROM microstructure m "
                              "JOIN cells c USING (cell_id)").to_pylist()
    assert len(micro) == 3 and all(abs(m["volume"] - m["cell"]) < 0.05 for m in micro), micro
    rise = store.query(root, """SELECT c.active_area_frac AS area, arg_max(r.r_interface_ohm, r.voltage_v) /
        arg_min(r.r_interface_ohm, r.voltage_v) AS rise FROM eis_results r JOIN cells c USING (cell_id)
        GROUP BY ALL ORDER BY area""").to_pylist()
    assert rise[0]["rise"] > 3 and abs(rise[-1]["rise"] - 1) < 0.05, rise


def test_demo_twice_gives_the_same_lake_and_closes_the_loop_once(cli, demo_lakes, demo_full_copy):
    # The second run on the built lake found only duplicates, then closed the loop: models for both default
    # objectives and a first batch at the seed's protocol.
    out = demo_lakes.loop_output
    assert "0 ingested, 13 duplicate" in out
    assert "model cycles_to_80-" in out and "model initial_areal_capacity-" in out
    root = demo_full_copy
    batch = store.query(root, "SELECT * FROM proposals").to_pylist()
    assert len(batch) == 4 and {(p["status"], p["voltage_max_v"], p["c_rate"]) for p in batch} == {
        ("proposed", 4.2, 0.1)}
    first = {t: store.query(root, f"SELECT * EXCLUDE (lake_version) FROM {t} ORDER BY ALL")
             for t in ("cycles", "eis_points", "microstructure", "models")}
    version = store.lake_version(root)
    code, out, _ = cli("--lake", root, "demo", "--no-app")
    assert code == 0 and "0 ingested, 13 duplicate" in out and "model and proposals already in the lake" in out
    assert store.lake_version(root) == version
    assert all(store.query(root, f"SELECT * EXCLUDE (lake_version) FROM {t} ORDER BY ALL").equals(first[t])
               for t in first)
