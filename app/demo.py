"""`cathode demo`: build the default lake from data cathode-lake makes itself, through the same ingest path a lab's
files take — the seed paper's four cells as literature rows, a virtual-lab campaign as lab templates, and for a few of
its cells BDF time series, in-situ EIS during the first charge (EC-Lab PEIS exports) and tomography label volumes
(TIFF stacks); then the derived analyses, and (`demo_loop`) a trained model and a first batch of proposals, so every
page of the app has data. Nothing is downloaded and nothing is read from outside the project.

Deterministic: the same seed writes byte-identical inputs, so a second `cathode demo` finds only duplicates, and the
loop runs only on a lake that has no model and no proposals yet.
"""
from __future__ import annotations

import csv
import math
import os
import shutil
import sys
from pathlib import Path

from analytics.runner import derive_all
from ingest.pipeline import ingest
from ingest.readers.templates import template_header
from lake import recipe, store
from lake.errors import InputError
from virtual_lab import instruments as virtual_instruments, lab as virtual_lab
from virtual_lab.cycler import DEMO_RUNNING_DAYS, cycler_schedule

SEED_DOI = "10.1002/adfm.202305186"
# (cell_id, process, loading, eca, figure, quantity, value, unit, at_cycle, note) — see design/seed-facts.md
SEED_ROWS = (
    ("An2023-Cal", "cold_calendered", 12.7, 0.0, "Fig. 1g", "retention_frac", 0.0, "fraction", 32,
     "no capacity after 32 cycles (loading > 12 mg/cm2)"),
    ("An2023-Hot-Cal", "hot_calendered", 12.7, 0.0, "Fig. 1g", "retention_frac", 67.5, "%", 50,
     "67.5 % retention after 50 cycles (loading > 12 mg/cm2)"),
    ("An2023-PCA", "in_situ_polymerized", 12.7, 0.05, "Fig. 5d,e", "retention_frac", 70.0, "%", 500,
     "70 % after 500 cycles, > 10,000 h at 0.1 C"),
    ("An2023-PCA-thick", "in_situ_polymerized", 28.6, 0.05, "Fig. S14a", "retention_frac", 77.9, "%", 150,
     "77.9 % after 150 cycles"),
    ("An2023-PCA-thick", "in_situ_polymerized", 28.6, 0.05, "Fig. S14a", "discharge_capacity", 4.85,
     "mAh/cm2", 1, "> 160 mAh/g (4.85 mAh/cm2) at 0.2 C"),
)
TIMESERIES_CELLS = 4     # their first cycles, on the campaign's clock (virtual_lab/cycler.py)
SEED_PROTOCOL = {"temperature_c": 60, **recipe.SEED_PROTOCOL, "voltage_min_v": 2.8,
                 "electrolyte": "PEO-LiTFSI-LLZTO"}
MEASURED_CELLS = 3        # in-situ EIS and a tomography volume: the worst-, middle- and best-contacted cells
DERIVED = ("cycling", "dqdv", "eis", "microstructure")


def write_seed_literature(path: Path) -> Path:
    """The seed's four cells (60 degC, 2.8-4.2 V, 0.1 C, PEO-LiTFSI-LLZTO) as a literature table."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.DictWriter(handle, fieldnames=template_header("literature").split(",") + ["voltage_min_v",
                                                                                             "electrolyte"],
                             lineterminator="\n", restval="")
        out.writeheader()
        for cell, process, loading, eca, figure, quantity, value, unit, cycle, note in SEED_ROWS:
            out.writerow({"cell_id": cell, "doi": SEED_DOI, "figure": figure, "quantity": quantity, "value": value,
                          "unit": unit, "at_cycle": cycle, "note": note, "process": process,
                          "loading_mg_cm2": loading, "eca_wt_frac": eca, **SEED_PROTOCOL})
    return path


def write_inputs(folder: Path, n_cells: int, seed: int) -> list[Path]:
    """Every demo input file, written fresh into ``folder``."""
    if n_cells < 1:
        raise InputError("the demo needs at least one virtual-lab cell.", column="--cells", expected="an integer >= 1",
                         found=n_cells)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    paths = [write_seed_literature(folder / "seed_an2023_literature.csv"),
             *virtual_lab.write_templates(folder, n_cells, seed, running_days=DEMO_RUNNING_DAYS)]
    results = virtual_lab.campaign_results(n_cells, seed)
    starts = cycler_schedule(results, running_days=DEMO_RUNNING_DAYS)   # the time series start with their cells
    for cell_id, result in _varied(results, TIMESERIES_CELLS):
        table = virtual_lab.timeseries(result, n_cycles=3, seed=seed, start_unix_s=starts[cell_id][0])
        paths.append(virtual_lab.write_timeseries_csv(table, folder / f"{cell_id}.bdf.csv"))
    for i, (cell_id, result) in enumerate(_varied(results, MEASURED_CELLS)):
        paths.append(virtual_instruments.write_peis_mpt(result, folder / f"{cell_id}.first-charge-peis.mpt",
                                                        seed=seed + i))
        paths.append(virtual_instruments.write_label_tiff(result, folder / f"{cell_id}.tomography.tif",
                                                          seed=seed + i))
    return paths


def _varied(results, n: int):
    """Up to n cells spread over the processes and over active area (so both plateau and no plateau appear)."""
    ranked = sorted(results, key=lambda item: item[1].active_area_frac)
    picks = [ranked[round(i * (len(ranked) - 1) / max(n - 1, 1))] for i in range(min(n, len(ranked)))]
    return sorted(dict(picks).items())


def build_demo(root: Path, *, n_cells: int = 40, seed: int = 7, progress: bool = False) -> str:
    """Build (or top up) the demo lake at ``root``; returns the summary `cathode demo` prints."""
    root = store.init(root)
    inputs = write_inputs(root / "demo_inputs", n_cells, seed)
    outcomes = ingest(root, inputs, progress=progress, command="demo")
    rejected = [o for o in outcomes if o.status == "rejected"]
    if rejected:
        raise InputError(f"the demo's own file was rejected: {rejected[0].reason}")
    derive_all(root, DERIVED)     # the seed's quantities: retention, 3.8 V plateau, interface resistance, contact
    counts = store.query(root, """SELECT (SELECT count(*) FROM cells) AS cells, (SELECT count(*) FROM cycles) AS
        cycles, (SELECT count(*) FROM timeseries) AS ts, (SELECT count(*) FROM literature) AS lit,
        (SELECT count(*) FROM eis_spectra) AS eis, (SELECT count(*) FROM microstructure) AS volumes""").to_pylist()[0]
    status = ", ".join(f"{sum(o.status == s for o in outcomes)} {s}" for s in ("ingested", "duplicate"))
    return (f"demo lake at {root}\n"
            f"files: {status}\n"
            f"cells: {counts['cells']} ({n_cells} virtual-lab, {len({r[0] for r in SEED_ROWS})} from the seed paper)\n"
            f"cycles: {counts['cycles']}, time-series rows: {counts['ts']}, literature values: {counts['lit']}\n"
            f"impedance spectra: {counts['eis']}, tomography volumes: {counts['volumes']}\n"
            f"lake version: {store.lake_version(root)}\n"
            f"try: cathode --lake {root} sql \"select * from cell_life order by cycles_to_80 desc limit 5\"")


def demo_loop(root: Path, *, seed: int = 7) -> str:
    """Close the loop once on a fresh demo lake: train the surrogate models, then propose four recipes (the default
    two objectives, cycle life and areal capacity, at the seed's protocol). Skipped where already done."""
    from models import registry
    from optimizer import proposals
    from optimizer.space import BENCHMARK_SPACE
    lines = []
    if not store.query(root, "SELECT count(*) AS n FROM models").to_pylist()[0]["n"]:
        for row in registry.train(root):
            lines.append(f"model {row['model_id']}: {row['target']} from {row['n_cells']} cells")
    if not store.query(root, "SELECT count(*) AS n FROM proposals").to_pylist()[0]["n"]:
        batch = proposals.propose(root, 4, space=BENCHMARK_SPACE, seed=seed)
        lines.append(f"proposals: {', '.join(r['proposal_id'] for r in batch.rows)} (try: cathode --lake {root} "
                     "proposals)")
    return "\n".join(lines + [f"lake version: {store.lake_version(root)}"]) if lines else ""


def app_command(root: Path, *, port: int | None = None, host: str | None = None, headless: bool = False) -> list[str]:
    """The `streamlit run` command line that serves the app (app/ui/main.py) on the lake at ``root``: no usage
    statistics, no look-up of this machine's external address, the viewer's toolbar (no developer "Deploy")."""
    from app.ui.uploads import max_upload_mb
    cmd = [sys.executable, "-m", "streamlit", "run", str(Path(__file__).with_name("ui") / "main.py"),
           "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer",
           "--browser.serverAddress", host if host and host not in ("0.0.0.0", "::") else "localhost",
           "--server.maxUploadSize", str(max(1, math.ceil(max_upload_mb())))]
    if port:
        cmd += ["--server.port", str(port)]
    if host:
        cmd += ["--server.address", host]
    if headless:
        cmd += ["--server.headless", "true"]
    return cmd + ["--", "--lake", str(Path(root).resolve())]


def start_app(root: Path, *, port: int | None = None, host: str | None = None) -> int:
    """Serve the Streamlit app on the lake until Ctrl+C or a SIGTERM: this process becomes the Streamlit server
    (exec), so a supervisor's signal reaches the server itself and never leaves it running orphaned."""
    cmd = app_command(root, port=port, host=host)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(cmd[0], cmd)
