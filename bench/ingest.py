"""Ingest throughput: one multi-million-row BDF record from the virtual lab, as BDF CSV and as BDF Parquet, through
the lake's ingest (read, per-cycle summary, Parquet staging, fsync, catalog commit) versus the pyarrow floor (read the
same file with pyarrow, write it as Parquet with the lake's settings: zstd, byte-stream-split floats)."""
from __future__ import annotations

import time
from pathlib import Path

CELL = "BENCH-0001"
# a long-lived in-situ cell at C/20: ~1,700 rows per cycle at the virtual lab's 60 s sampling
RECIPE = dict(process="in_situ_polymerized", loading_mg_cm2=15.0, densification_frac=0.25, eca_wt_frac=0.05,
              temperature_c=60.0, voltage_max_v=4.0, c_rate=0.05)


def record(rows: int, seed: int = 1):
    """The virtual lab's BDF time series of one cell, with enough cycles for ``rows`` rows."""
    from virtual_lab import lab as vl
    recipe = vl.Recipe(**RECIPE)
    probe = vl.timeseries(vl.simulate(recipe, 20, seed=seed), n_cycles=20, seed=seed)
    cycles = max(1, round(rows / (probe.num_rows / 20)))
    result = vl.simulate(recipe, cycles, seed=seed)
    return vl.timeseries(result, n_cycles=cycles, seed=seed)


def prepare(work: str, rows: int) -> dict:
    """Write <work>/BENCH-0001.bdf.csv and .bdf.parquet (and cells.csv) unless already there for this size."""
    import pyarrow.parquet as pq
    from virtual_lab import lab as vl
    folder = Path(work) / f"ingest-{rows}"
    csv, parquet = folder / f"{CELL}.bdf.csv", folder / f"{CELL}.bdf.parquet"
    if not (csv.exists() and parquet.exists()):
        folder.mkdir(parents=True, exist_ok=True)
        table = record(rows)
        pq.write_table(table, parquet)                               # pyarrow defaults, as a converter writes it
        vl.write_timeseries_csv(table, csv.with_suffix(".tmp"))
        csv.with_suffix(".tmp").rename(csv)
    cells = folder / "cells.csv"
    cells.write_text("cell_id,process,loading_mg_cm2,eca_wt_frac,temperature_c,voltage_max_v,c_rate\n"
                     f"{CELL},{RECIPE['process']},{RECIPE['loading_mg_cm2']},{RECIPE['eca_wt_frac']},"
                     f"{RECIPE['temperature_c']},{RECIPE['voltage_max_v']},{RECIPE['c_rate']}\n")
    return {"csv": str(csv), "parquet": str(parquet), "cells": str(cells),
            "rows": pq.ParquetFile(parquet).metadata.num_rows,
            "csv_mb": round(csv.stat().st_size / 1e6, 1), "parquet_mb": round(parquet.stat().st_size / 1e6, 1)}


def lake_ingest(path: str, cells: str, lake: str) -> dict:
    """Time `ingest` of one file into a fresh lake that already knows the cell (imports not counted)."""
    import shutil
    from ingest.pipeline import ingest
    from lake import store
    shutil.rmtree(lake, ignore_errors=True)
    root = store.init(Path(lake))
    ingest(root, [Path(cells)], progress=False)
    started = time.perf_counter()
    outcome = ingest(root, [Path(path)], progress=False)[0]
    seconds = time.perf_counter() - started
    if outcome.status != "ingested":
        raise RuntimeError(f"{path}: {outcome.status} {outcome.reason}")
    stored = store.query(root, "SELECT count(*) AS n FROM timeseries")["n"][0].as_py()
    cycles = store.query(root, "SELECT count(*) AS n FROM cycles")["n"][0].as_py()
    return {"seconds": round(seconds, 3), "rows": stored, "cycles_derived": cycles}


def pyarrow_floor(path: str, out: str) -> dict:
    """Read the file with pyarrow and write it as one Parquet file with the lake's settings."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq
    started = time.perf_counter()
    table = pq.read_table(path) if path.endswith(".parquet") else pcsv.read_csv(path)
    floats = [f.name for f in table.schema if pa.types.is_floating(f.type)]
    pq.write_table(table, out, compression="zstd", use_byte_stream_split=floats or False)
    seconds = time.perf_counter() - started
    Path(out).unlink()
    return {"seconds": round(seconds, 3), "rows": table.num_rows}


def end_to_end(path: str, cells: str, work: Path, repeat: int) -> dict:
    """`cathode ingest FILE` as a person runs it (fresh process, a lake that already knows the cell) versus a fresh
    Python process that reads the file with pyarrow and writes zstd Parquet; best of ``repeat`` each."""
    import os
    import shutil
    import subprocess
    import sys
    cathode, lake = str(Path(sys.executable).with_name("cathode")), work / "lake-end-to-end"
    floor = [sys.executable, "-c", "import sys; from bench.ingest import pyarrow_floor; "
             "pyarrow_floor(sys.argv[1], sys.argv[2])", path, str(work / "floor-e2e.parquet")]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    lake_s, floor_s = [], []
    for _ in range(repeat):
        shutil.rmtree(lake, ignore_errors=True)
        subprocess.run([cathode, "--lake", str(lake), "ingest", "--no-progress", cells], check=True,
                       capture_output=True)
        started = time.perf_counter()
        subprocess.run([cathode, "--lake", str(lake), "ingest", "--no-progress", path], check=True,
                       capture_output=True)
        lake_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        subprocess.run(floor, check=True, capture_output=True, env=env)
        floor_s.append(time.perf_counter() - started)
    return {"cathode_ingest_s": round(min(lake_s), 3), "python_floor_s": round(min(floor_s), 3),
            "ratio": round(min(lake_s) / min(floor_s), 2)}


def run(work: Path, rows: int, job, repeat: int = 2) -> dict:
    """Each side measured ``repeat`` times, alternating, best kept (a shared machine's noise only adds time)."""
    data = prepare(str(work), rows)
    out = {"input": data, "formats": {}, "repeat": repeat}
    for fmt in ("csv", "parquet"):
        lakes, floors = [], []
        for _ in range(repeat):
            lakes.append(job("ingest", "lake_ingest", path=data[fmt], cells=data["cells"],
                             lake=str(work / f"lake-ingest-{fmt}")))
            floors.append(job("ingest", "pyarrow_floor", path=data[fmt], out=str(work / f"floor-{fmt}.parquet")))
        lake, floor = min(lakes, key=lambda r: r["seconds"]), min(floors, key=lambda r: r["seconds"])
        out["formats"][fmt] = {
            "lake": lake, "pyarrow_floor": floor,
            "lake_rows_per_s": round(lake["rows"] / lake["seconds"]),
            "floor_rows_per_s": round(floor["rows"] / floor["seconds"]),
            "ratio_to_floor": round(lake["seconds"] / floor["seconds"], 2),
            "end_to_end": end_to_end(data[fmt], data["cells"], work, repeat)}
    return out


def table(result: dict) -> list[dict]:
    rows = []
    for fmt, r in result["formats"].items():
        rows.append({
            "what": f"ingest, {result['input']['rows'] / 1e6:.1f} M-row virtual-lab BDF {fmt.upper()} "
                    f"({result['input'][fmt + '_mb']} MB)",
            "figure": f"{r['lake_rows_per_s'] / 1e6:.2f} M rows/s ({r['lake']['seconds']:.1f} s, incl. per-cycle "
                      f"summary); pyarrow floor {r['floor_rows_per_s'] / 1e6:.2f} M rows/s: "
                      f"**{r['ratio_to_floor']:.1f}× the floor**; end to end (`cathode ingest` process vs a "
                      f"fresh pyarrow process) {r['end_to_end']['cathode_ingest_s']:.1f} s vs "
                      f"{r['end_to_end']['python_floor_s']:.1f} s: **{r['end_to_end']['ratio']:.1f}×**",
            "goal": "end to end ≤ 1.5× the floor process" if fmt == "csv" else "report the ratio to the floor",
            "verdict": ("met" if r["end_to_end"]["ratio"] <= 1.5 else
                        f"missed: {r['end_to_end']['ratio']:.1f}×") if fmt == "csv" else "measured",
            "peak_mb": r["lake"]["peak_rss_mb"]})
    return rows
